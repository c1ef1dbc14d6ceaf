// A small C layer over libpci that never lets libpci exit the process.
//
// libpci reports fatal errors through a variadic `noreturn` callback that, by default, calls
// exit(). Swift cannot implement a variadic callback, so this shim installs its own handlers:
// the error handler records the message and longjmp()s back to the shim entry point that called
// into libpci, which then returns failure with the message. Warnings are recorded, debug output
// is dropped.
#ifndef CPCISHIM_H
#define CPCISHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// An open libpci access with its devices scanned. Opaque.
typedef struct CPCIShim_Access CPCIShim_Access;

/// Access methods the shim offers: live sysfs (optionally under another root) and libpci's
/// dump method, which reads `lspci -x`, `-xxx` or `-xxxx` output.
typedef enum {
  CPCIShim_MethodSysfs = 0,
  CPCIShim_MethodDump = 1,
} CPCIShim_Method;

/// Opens libpci with `method`. `path` is the sysfs PCI directory (`sysfs.path`, e.g.
/// "/sys/bus/pci"; NULL keeps libpci's default) or the dump file (`dump.name`). Scans the bus.
/// Returns NULL on failure with libpci's message in `error` (always NUL-terminated).
CPCIShim_Access *CPCIShim_open(CPCIShim_Method method, const char *path, char *error,
                               size_t errorLength);

/// Releases the access and its devices.
void CPCIShim_close(CPCIShim_Access *access);

/// The number of devices libpci found (in libpci's order, which is unspecified).
int CPCIShim_deviceCount(const CPCIShim_Access *access);

/// The address of device `index`: domain, bus, device, function.
void CPCIShim_deviceAddress(const CPCIShim_Access *access, int index, uint32_t *domain,
                            uint8_t *bus, uint8_t *device, uint8_t *function);

/// Reads `length` bytes of device `index`'s configuration space at `offset` into `buffer`.
/// Returns 1 when all of them were readable, 0 when the back-end refused (a non-root reader
/// past 64 bytes, a dump that holds fewer bytes), or -1 with libpci's message in `error`.
int CPCIShim_readBlock(CPCIShim_Access *access, int index, int offset, uint8_t *buffer, int length,
                       char *error, size_t errorLength);

/// The last warning libpci printed through this access ("" if none).
const char *CPCIShim_lastWarning(const CPCIShim_Access *access);

#ifdef __cplusplus
}
#endif

#endif
