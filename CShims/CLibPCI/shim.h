// libpci's public header, found through pkg-config (package libpci-dev).
#include <pci/pci.h>
