/*
 * processprng.c: a stand-in bcryptprimitives.dll for Wine 8.0.
 *
 * Why: Go >= 1.22 Windows binaries import bcryptprimitives.dll!ProcessPrng for crypto/rand
 * and the runtime's random seed; Wine 8.0 ships no bcryptprimitives.dll, so every Go test
 * binary fails to load. ProcessPrng is documented as "fills the buffer with random bytes and
 * always returns TRUE"; here it forwards to BCryptGenRandom with the system-preferred RNG,
 * which Wine implements.
 * https://learn.microsoft.com/en-us/windows/win32/seccng/processprng
 *
 * Built by scripts/wine/setup.sh with x86_64-w64-mingw32-gcc into the Wine prefix's
 * system32; not used on real Windows.
 */
#include <windows.h>
#include <bcrypt.h>

BOOL WINAPI ProcessPrng(PBYTE pbData, SIZE_T cbData)
{
	while (cbData > 0) {
		ULONG n = cbData > 0x40000000 ? 0x40000000 : (ULONG)cbData;
		if (BCryptGenRandom(NULL, pbData, n, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0)
			return FALSE;
		pbData += n;
		cbData -= n;
	}
	return TRUE;
}
