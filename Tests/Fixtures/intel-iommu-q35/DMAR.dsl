/*
 * The DMAR table of QEMU 10's q35 machine with `-device intel-iommu,intremap=on` (aw-bits 48),
 * the machine of ../shared/reference/linux-7.2-traces/intel-iommu.poweroff.trace.
 *
 * Built for this project from the layout of QEMU's build_dmar_q35() (hw/i386/acpi-build.c) and
 * checked against that boot's console (intel.poweroff.console.log):
 *   "ACPI: DMAR 0x000000005FFE2329 000078 (v01 BOCHS  BXPC     00000001 BXPC 00000001)"
 *   "DMAR: Host address width 48", "DMAR: DRHD base: 0x000000fed90000 flags: 0x0",
 *   "DMAR-IR: IOAPIC id 0 under DRHD base  0xfed90000 IOMMU 0", and the six PCI functions of
 *   bus 0 that were added to IOMMU groups.
 *
 * [024h 0036 001h]  Host Address Width : 2F
 * [025h 0037 001h]  Flags : 01 (INTR_REMAP)
 * [030h 0048 002h]  Subtable Type : 0000 [Hardware Unit Definition], Length 0048, Flags 00 (no INCLUDE_PCI_ALL)
 * [03Ch 0060 008h]  Register Base Address : 00000000FED90000
 * [044h 0068]       Device Scope: IOAPIC, Enumeration ID 00, Bus FF, Path 00,00
 * [04Ch 0076]       Device Scope: PCI Endpoint, Bus 00, Paths 00.0, 01.0, 02.0, 1F.0, 1F.2, 1F.3
 *
 * The checksum byte is computed so the table sums to zero (the real one was not captured).
 */

Raw Table Data: Length 120 (0x78)

    0000: 44 4D 41 52 78 00 00 00 01 04 42 4F 43 48 53 20  // DMARx.....BOCHS 
    0010: 42 58 50 43 20 20 20 20 01 00 00 00 42 58 50 43  // BXPC    ....BXPC
    0020: 01 00 00 00 2F 01 00 00 00 00 00 00 00 00 00 00  // ................
    0030: 00 00 48 00 00 00 00 00 00 00 D9 FE 00 00 00 00  // ..H.............
    0040: 03 08 00 00 00 FF 00 00 01 08 00 00 00 00 00 00  // ................
    0050: 01 08 00 00 00 00 01 00 01 08 00 00 00 00 02 00  // ................
    0060: 01 08 00 00 00 00 1F 00 01 08 00 00 00 00 1F 02  // ................
    0070: 01 08 00 00 00 00 1F 03                          // ........
