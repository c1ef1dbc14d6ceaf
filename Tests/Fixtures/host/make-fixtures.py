#!/usr/bin/env python3
"""Builds the synthetic host fixtures under Tests/Fixtures/host (run from anywhere; idempotent).

What real captures lack is made here, byte by byte, from the PCI and VT-d specifications and the
values recorded in ../shared/reference/oracles.md section 4: lspci dumps (the format libpci's
dump method reads) and a sysfs/procfs tree of an Intel laptop with two VT-d units (the Google
Pixelbook cap/ecap pairs of oracles.md 4.3) and the Surface Pro 4 DMAR table."""
import os, shutil, struct, pathlib

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent.parent

def cfg(size, vendor, device, cls, rev=0, header=0, status=0x0010, command=0x0406, cap_ptr=0):
    b = bytearray(size)
    struct.pack_into('<HHHH', b, 0, vendor, device, command, status)
    b[8] = rev
    b[9] = cls & 0xff; b[10] = (cls >> 8) & 0xff; b[11] = (cls >> 16) & 0xff
    b[0x0e] = header
    b[0x34] = cap_ptr
    return b

def cap(b, at, cid, nxt, body=b''):
    b[at] = cid; b[at + 1] = nxt
    b[at + 2:at + 2 + len(body)] = body

def ext(b, at, cid, ver, nxt, body=b''):
    struct.pack_into('<I', b, at, cid | ver << 16 | nxt << 20)
    b[at + 4:at + 4 + len(body)] = body

def dump(entries):
    out = []
    for addr, title, b in entries:
        out.append(f'{addr} {title}')
        for o in range(0, len(b), 16):
            out.append(f'{o:02x}: ' + ' '.join(f'{x:02x}' for x in b[o:o + 16]) if len(b) <= 256
                       else f'{o:03x}: ' + ' '.join(f'{x:02x}' for x in b[o:o + 16]))
        out.append('')
    return '\n'.join(out)

def pcie(b, at, nxt, port_type, slot=0):
    # PCIe Capabilities (v2, type), Device Capabilities (MPS 256, FLR), Link Cap x4 8GT/s, Status.
    body = struct.pack('<HIHHIHH', 0x0002 | port_type << 4 | slot << 8, 0x10008001, 0, 0, 0x00400043 | 1 << 24, 0, 0x0043)
    cap(b, at, 0x10, nxt, body)
    struct.pack_into('<I', b, at + 0x24, 0x00010020)  # DevCap2: ARI forwarding, 10-bit tag completer

# A RISC-V IOMMU PCI function as QEMU's riscv-iommu-pci presents it: 1b36:0014, class 0x0806,
# 64-bit BAR0, PCI Express RCiEP capability and MSI-X (-xxxx, so the extended list is complete).
riscv = cfg(4096, 0x1b36, 0x0014, 0x080600, rev=1, cap_ptr=0x40)
struct.pack_into('<II', riscv, 0x10, 0xfe000004, 0)
pcie(riscv, 0x40, 0x80, 0x9)
cap(riscv, 0x80, 0x11, 0x00, struct.pack('<HII', 0x8000 | 0x1f, 0x00004000, 0x00005000))

# A root port with ACS (and AER before it), and an endpoint behind it with ATS, PRI and PASID.
rp = cfg(4096, 0x8086, 0x9d10, 0x060400, rev=0xf1, header=1, cap_ptr=0x40)
rp[0x18:0x1b] = bytes([0, 1, 1])
pcie(rp, 0x40, 0x80, 0x4, slot=1)
cap(rp, 0x80, 0x05, 0xa0, struct.pack('<HI', 0x0081, 0xfee00258))
cap(rp, 0xa0, 0x01, 0x00, struct.pack('<HH', 0x0003, 0x0008))
ext(rp, 0x100, 0x0001, 1, 0x140)
ext(rp, 0x140, 0x000d, 1, 0x000, struct.pack('<HH', 0x005f, 0x001d))
ep = cfg(4096, 0x144d, 0xa808, 0x010802, cap_ptr=0x40)
pcie(ep, 0x40, 0x70, 0x0)
cap(ep, 0x70, 0x11, 0x00, struct.pack('<HII', 0x8000 | 0x20, 0x00003000, 0x00002000))
ext(ep, 0x100, 0x000f, 1, 0x110, struct.pack('<HH', 0x0020, 0x8000))
ext(ep, 0x110, 0x0013, 1, 0x120, struct.pack('<HHII', 0x0001, 0x0100, 0x200, 0x20))
ext(ep, 0x120, 0x001b, 1, 0x000, struct.pack('<HH', 0x1406, 0x0001))

# What a non-root reader (or `lspci -x`) gets of an AMD "Matisse" IOMMU: 64 bytes, the
# capability pointer says 0x40 but the capability itself was not captured.
amd64 = cfg(64, 0x1022, 0x1481, 0x080600, command=0x0440, status=0x0010, cap_ptr=0x40)
amd_host = cfg(64, 0x1022, 0x1480, 0x060000, status=0x0220)

# The Zen 1 IOMMU 1022:1451 with all 256 bytes, as oracles.md 4.1 item 2 records them.
zen = cfg(256, 0x1022, 0x1451, 0x080600, command=0x0000, status=0x0010, cap_ptr=0x40)
struct.pack_into('<IIIII', zen, 0x40, 0x190B640F, 0xFEB80001, 0, 0, 0x00203040)
cap(zen, 0x64, 0x05, 0x74, struct.pack('<HIIH', 0x0081, 0xfee00000, 0, 0x40ce))
cap(zen, 0x74, 0x08, 0x00, struct.pack('<HI', 0xa803, 0xfee00000))

dumps = HERE / 'dumps'
dumps.mkdir(exist_ok=True)
(dumps / 'riscv-iommu-pci.lspci').write_text(dump([('00:03.0', 'System peripheral [0806]: Red Hat, Inc. RISC-V IOMMU [1b36:0014] (rev 01)', riscv)]) + '\n')
(dumps / 'root-port-acs.lspci').write_text(dump([
    ('00:1c.0', 'PCI bridge [0604]: Intel Corporation Sunrise Point-LP PCI Express Root Port #1 [8086:9d10] (rev f1)', rp),
    ('01:00.0', 'Non-Volatile memory controller [0108]: Samsung Electronics Co Ltd NVMe SSD Controller SM961/PM961 [144d:a808]', ep)]) + '\n')
(dumps / 'amd-iommu-64-bytes.lspci').write_text(dump([
    ('00:00.0', 'Host bridge [0600]: Advanced Micro Devices, Inc. [AMD] Starship/Matisse Root Complex [1022:1480]', amd_host),
    ('00:00.2', 'IOMMU [0806]: Advanced Micro Devices, Inc. [AMD] Starship/Matisse IOMMU [1022:1481]', amd64)]) + '\n')
(dumps / 'amd-iommu-zen1.lspci').write_text(dump([('00:00.2', 'IOMMU [0806]: Advanced Micro Devices, Inc. [AMD] Family 17h (Models 00h-0fh) I/O Memory Management Unit [1022:1451]', zen)]) + '\n')

# An Intel laptop: sysfs and procfs as Linux lays them out, with two VT-d units.
laptop = HERE / 'intel-laptop'
if laptop.exists():
    shutil.rmtree(laptop)
sys_ = laptop / 'sys'
def write(p, data, mode='w'):
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, mode) as f:
        f.write(data)
def link(p, target):
    p.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, p)

gpu = cfg(256, 0x8086, 0x5916, 0x030000, rev=2, cap_ptr=0x40)
cap(gpu, 0x40, 0x09, 0xac, b'\x0c\x01')
cap(gpu, 0xac, 0x05, 0xd0, struct.pack('<HI', 0x0001, 0xfee00018))
cap(gpu, 0xd0, 0x01, 0x00, struct.pack('<HH', 0x0022, 0x0000))
host = cfg(256, 0x8086, 0x5904, 0x060000, rev=2, status=0x0090, cap_ptr=0xe0)
cap(host, 0xe0, 0x09, 0x00, b'\x10\x01')
xhci = cfg(256, 0x8086, 0x9d2f, 0x0c0330, rev=0x21, cap_ptr=0x70)
cap(xhci, 0x70, 0x01, 0x80, struct.pack('<HH', 0xc1c2, 0x8000))
cap(xhci, 0x80, 0x05, 0x00, struct.pack('<HI', 0x0087, 0xfee00398))
devices = {
    '0000:00:00.0': (host, None, None),
    '0000:00:02.0': (gpu, 'i915', 0),
    '0000:00:14.0': (xhci, 'xhci_hcd', 1),
    '0000:00:1c.0': (rp, 'pcieport', 2),
    '0000:01:00.0': (ep[:64], 'nvme', 2),  # as a non-root reader sees it: 64 bytes
}
for bdf, (config, driver, group) in devices.items():
    d = sys_ / 'devices/pci0000:00' / bdf
    write(d / 'config', bytes(config), 'wb')
    link(sys_ / 'bus/pci/devices' / bdf, f'../../../devices/pci0000:00/{bdf}')
    if driver:
        link(d / 'driver', f'../../../bus/pci/drivers/{driver}')
    if group is not None:
        link(d / 'iommu_group', f'../../../kernel/iommu_groups/{group}')
        link(sys_ / 'kernel/iommu_groups' / str(group) / 'devices' / bdf, f'../../../../devices/pci0000:00/{bdf}')
units = {
    'dmar0': ('fed90000', '1:0', '1c0000c40660462', '19e2ff0505e', 256, 2, ['0000:00:02.0']),
    'dmar1': ('fed91000', '1:0', 'd2008c40660462', 'f050da', 256, 4, ['0000:00:14.0', '0000:00:1c.0', '0000:01:00.0']),
}
for name, (address, version, capv, ecapv, supported, used, members) in units.items():
    d = sys_ / 'devices/virtual/iommu' / name
    for attr, value in [('address', address), ('version', version), ('cap', capv), ('ecap', ecapv),
                        ('domains_supported', str(supported)), ('domains_used', str(used))]:
        write(d / 'intel-iommu' / attr, value + '\n')
    for bdf in members:
        link(d / 'devices' / bdf, f'../../../../pci0000:00/{bdf}')
    link(sys_ / 'class/iommu' / name, f'../../devices/virtual/iommu/{name}')
types = {0: 'DMA-FQ', 1: 'DMA-FQ', 2: 'DMA'}
regions = {
    0: '0x000000007b800000 0x000000007fffffff direct\n0x00000000fee00000 0x00000000feefffff msi\n',
    1: '0x000000007a5c2000 0x000000007a5e1fff direct-relaxable\n0x00000000fee00000 0x00000000feefffff msi\n',
    2: '0x00000000fee00000 0x00000000feefffff msi\n',
}
for g, t in types.items():
    write(sys_ / 'kernel/iommu_groups' / str(g) / 'type', t + '\n')
    write(sys_ / 'kernel/iommu_groups' / str(g) / 'reserved_regions', regions[g])
write(sys_ / 'kernel/kexec_loaded', '0\n')
write(sys_ / 'kernel/kexec_crash_loaded', '1\n')
write(sys_ / 'kernel/kexec_crash_size', '268435456\n')
# The DMAR table: the Surface Pro 4's, from its iasl disassembly's raw data block.
dsl = (ROOT / '../shared/oracle-data/acpi/DMAR_surface-pro-4_skylake.dsl').resolve().read_text()
raw = bytearray()
on = False
for line in dsl.splitlines():
    if 'Raw Table Data' in line:
        on = True
        continue
    if not on or ':' not in line:
        continue
    head, rest = line.strip().split(':', 1)
    if not all(c in '0123456789ABCDEFabcdef' for c in head):
        continue
    raw += bytes(int(x, 16) for x in rest.split('//')[0].split())
write(sys_ / 'firmware/acpi/tables/DMAR', bytes(raw), 'wb')
proc = laptop / 'proc'
write(proc / 'cmdline', 'BOOT_IMAGE=/vmlinuz-7.2.0 root=/dev/nvme0n1p2 ro intel_iommu=on,sm_on iommu.strict=0 crashkernel=256M\n')
write(proc / 'sys/kernel/osrelease', '7.2.0-1-amd64\n')
write(proc / 'iomem', '00000000-00000fff : Reserved\n00001000-0009dfff : System RAM\n'
      '00100000-7a5c1fff : System RAM\n  5e000000-6dffffff : Crash kernel\nfed90000-fed90fff : dmar0\nfed91000-fed91fff : dmar1\n')

# An AMD server's class/iommu entries in the two historical `features` formats.
amd = HERE / 'amd-server'
if amd.exists():
    shutil.rmtree(amd)
write(amd / 'sys/class/iommu/ivhd0/amd-iommu/cap', '190b640f\n')
write(amd / 'sys/class/iommu/ivhd0/amd-iommu/features', '58f77ef22294ade\n')
write(amd / 'sys/class/iommu/ivhd1/amd-iommu/cap', '190b640f\n')
write(amd / 'sys/class/iommu/ivhd1/amd-iommu/features', 'a5bf732fa2295afe:5\n')
write(amd / 'proc/sys/kernel/osrelease', '6.12.0\n')
