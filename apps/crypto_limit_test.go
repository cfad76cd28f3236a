package apps_test

import (
	"io"
	"testing"

	"github.com/iobench/iobench/apps"
	"github.com/iobench/iobench/models"
	"github.com/iobench/iobench/models/modeltest"
	"github.com/iobench/iobench/netstd"
	"github.com/iobench/iobench/proto"
)

// TestCryptoKeyLimit: with a key good for 3 frames, the server answers frames 0-2 and ends
// the session at frame 3 with KickDisconnect, counted as key_exhausted, before any nonce
// could repeat (the frame-counter limit is what stands between a session and a wrapped
// counter; proto tests the wrap itself).
func TestCryptoKeyLimit(t *testing.T) {
	app := apps.NewCryptoApp(models.DefaultRecvBufferSize, proto.CryptoLimits{Frames: 3})
	eng := modeltest.Open(t, netstd.Name, models.Config{})
	tr := modeltest.Track(t, app)
	svc := modeltest.Listen(t, eng, tr, models.ServiceOptions{})
	c := modeltest.Dial(t, svc.Addr())
	codec, err := proto.NewCryptoClient(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	c.Write(codec.Hello())
	hello := make([]byte, proto.CryptoHelloSize)
	if _, err := io.ReadFull(c, hello); err != nil {
		t.Fatal(err)
	}
	if err := codec.Accept(hello); err != nil {
		t.Fatal(err)
	}
	reply := make([]byte, 64)
	for seq := range uint64(3) { // one frame a window: a kick drops the window's replies
		if _, err := c.Write(codec.Append(nil, seq)); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, reply); err != nil {
			t.Fatalf("reply %d: %v", seq, err)
		}
		if r, err := codec.Next(reply, seq); err != nil || r.Seq != seq {
			t.Fatalf("reply %d: %+v, %v", seq, r, err)
		}
	}
	if _, err := c.Write(codec.Append(nil, 3)); err != nil {
		t.Fatal(err)
	}
	modeltest.ExpectClosed(t, c)
	tr.WaitDisconnects(t, 1)
	if got := tr.Reasons(); got[models.KickDisconnect] != 1 {
		t.Fatalf("kick reasons %v, want disconnect", got)
	}
	if st := app.AppStats(); st["crypto_key_exhausted"] != 1 || st["crypto_frames"] != 3 {
		t.Errorf("app stats %v: want key_exhausted 1 and 3 frames", st)
	}
}
