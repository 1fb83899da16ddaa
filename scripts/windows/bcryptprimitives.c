/*
 * A stand-in for Windows' bcryptprimitives.dll, for running this crate's Windows test
 * binaries under Wine (scripts/windows_tests.sh) only: it is no part of the crate or its
 * dependency tree.
 *
 * Rust's std on Windows draws its randomness (the seeds of HashMap's RandomState) from
 * ProcessPrng in bcryptprimitives.dll, which Debian's Wine 8 does not ship, so every Rust
 * binary fails to start there. This DLL exports ProcessPrng over RtlGenRandom
 * (SystemFunction036 in advapi32), which Wine has.
 *
 * Build: x86_64-w64-mingw32-gcc -O2 -shared -o bcryptprimitives.dll bcryptprimitives.c -ladvapi32
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

/* Fills `len` bytes at `data` with random bytes; TRUE on success, as Windows' own does. */
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, n))
            return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
