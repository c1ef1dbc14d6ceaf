// See include/CPCIShim.h. The error handler longjmp()s back into the shim function that called
// libpci; each such function takes a setjmp() first through SHIM_TRY.
#include "CPCIShim.h"

#include <pci/pci.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct CPCIShim_Access {
  struct pci_access *pacc;
  struct pci_dev **devices;
  int count;
  char warning[256];
};

// The handler has no context argument, so the landing point is per thread.
static _Thread_local jmp_buf *shim_landing;
static _Thread_local char shim_message[256];
static _Thread_local CPCIShim_Access *shim_current;

static void shim_error(char *msg, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void shim_warning(char *msg, ...) __attribute__((format(printf, 1, 2)));
static void shim_debug(char *msg, ...) __attribute__((format(printf, 1, 2)));

static void shim_error(char *msg, ...) {
  va_list ap;
  va_start(ap, msg);
  vsnprintf(shim_message, sizeof shim_message, msg, ap);
  va_end(ap);
  if (shim_landing) longjmp(*shim_landing, 1);
  // Not reachable from the shim's entry points: every call into libpci sets a landing point.
  abort();
}

static void shim_warning(char *msg, ...) {
  if (!shim_current) return;
  va_list ap;
  va_start(ap, msg);
  vsnprintf(shim_current->warning, sizeof shim_current->warning, msg, ap);
  va_end(ap);
}

static void shim_debug(char *msg, ...) { (void)msg; }

static void copy_message(char *error, size_t length) {
  if (error && length) {
    strncpy(error, shim_message, length - 1);
    error[length - 1] = 0;
  }
}

CPCIShim_Access *CPCIShim_open(CPCIShim_Method method, const char *path, char *error,
                               size_t errorLength) {
  CPCIShim_Access *access = calloc(1, sizeof *access);
  if (!access) {
    snprintf(error, errorLength, "out of memory");
    return NULL;
  }
  jmp_buf landing;
  jmp_buf *saved = shim_landing;
  shim_current = access;
  shim_landing = &landing;
  if (setjmp(landing)) {
    shim_landing = saved;
    shim_current = NULL;
    copy_message(error, errorLength);
    // libpci's state after a failed init is not safe to clean up; the access is leaked.
    free(access->devices);
    free(access);
    return NULL;
  }
  struct pci_access *pacc = pci_alloc();
  pacc->error = shim_error;
  pacc->warning = shim_warning;
  pacc->debug = shim_debug;
  access->pacc = pacc;
  if (method == CPCIShim_MethodDump) {
    pacc->method = PCI_ACCESS_DUMP;
    // pci_set_param takes non-const strings and copies them.
    if (pci_set_param(pacc, "dump.name", (char *)(path ? path : "")) != 0)
      shim_error("libpci has no dump.name parameter");
  } else {
    pacc->method = PCI_ACCESS_SYS_BUS_PCI;
    if (path && pci_set_param(pacc, "sysfs.path", (char *)path) != 0)
      shim_error("libpci has no sysfs.path parameter");
  }
  pci_init(pacc);
  pci_scan_bus(pacc);
  int n = 0;
  for (struct pci_dev *d = pacc->devices; d; d = d->next) n++;
  access->devices = calloc(n ? n : 1, sizeof *access->devices);
  if (!access->devices) shim_error("out of memory");
  n = 0;
  for (struct pci_dev *d = pacc->devices; d; d = d->next) access->devices[n++] = d;
  access->count = n;
  shim_landing = saved;
  shim_current = NULL;
  return access;
}

void CPCIShim_close(CPCIShim_Access *access) {
  if (!access) return;
  jmp_buf landing;
  jmp_buf *saved = shim_landing;
  shim_landing = &landing;
  if (!setjmp(landing)) pci_cleanup(access->pacc);
  shim_landing = saved;
  free(access->devices);
  free(access);
}

int CPCIShim_deviceCount(const CPCIShim_Access *access) { return access->count; }

void CPCIShim_deviceAddress(const CPCIShim_Access *access, int index, uint32_t *domain,
                            uint8_t *bus, uint8_t *device, uint8_t *function) {
  struct pci_dev *d = access->devices[index];
  // `domain` is the full domain (int); `domain_16` is 0xffff when it does not fit.
  *domain = (uint32_t)d->domain;
  *bus = d->bus;
  *device = d->dev;
  *function = d->func;
}

int CPCIShim_readBlock(CPCIShim_Access *access, int index, int offset, uint8_t *buffer, int length,
                       char *error, size_t errorLength) {
  struct pci_dev *d = access->devices[index];
  jmp_buf landing;
  jmp_buf *saved = shim_landing;
  shim_landing = &landing;
  shim_current = access;
  if (setjmp(landing)) {
    shim_landing = saved;
    shim_current = NULL;
    copy_message(error, errorLength);
    return -1;
  }
  int ok = pci_read_block(d, offset, buffer, length) ? 1 : 0;
  shim_landing = saved;
  shim_current = NULL;
  return ok;
}

const char *CPCIShim_lastWarning(const CPCIShim_Access *access) { return access->warning; }
