#!/bin/sh
# /init of the capture initramfs (busybox). The scenario comes from the kernel command line:
#   mode=poweroff  print, then poweroff (the driver's shutdown path runs)
#   mode=kexec     first kernel: kexec -l the same kernel with stage=2, kexec -e (device_shutdown)
#                  second kernel (stage=2): print, poweroff
#   mode=kdump     first kernel: kexec -p the same kernel, then crash through sysrq-trigger c
#                  crash kernel (elfcorehdr= or /proc/vmcore): print, poweroff
# Every kernel prints "=== BOOT <cmdline>"; the last one prints "=== END <scenario>".
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
cmdline=$(cat /proc/cmdline)
arg() { for w in $cmdline; do case "$w" in "$1"=*) echo "${w#*=}";; esac; done; }
mode=$(arg mode)
stage=$(arg stage)
echo "=== BOOT $cmdline"
dmesg | grep -i -E 'iommu|dmar|smmu|kexec|crash|Starting new kernel' | head -n 60
echo "=== SYSFS"
for i in /sys/class/iommu/*; do echo "$i"; done
for g in /sys/kernel/iommu_groups/*; do
  [ -d "$g" ] || continue
  echo "group ${g##*/} type=$(cat "$g/type" 2>/dev/null) devices=$(ls "$g/devices" | tr '\n' ' ')"
done
# The kernel's own command line without what only the first kernel needs.
next=""
for w in $cmdline; do
  case "$w" in crashkernel=*|stage=*|BOOT_IMAGE=*|elfcorehdr=*) ;; *) next="$next $w";; esac
done
next=${next# }
end() { echo "=== END $1"; sync; poweroff -f; }
load() { # load FLAG APPEND: kexec_file_load first, kexec_load if the kernel refuses it
  kexec -s "$1" /vmlinuz --initrd=/initrd.img --append="$2" && return 0
  echo "=== kexec -s $1 failed, trying kexec_load"
  kexec "$1" /vmlinuz --initrd=/initrd.img --append="$2"
}
case "$mode" in
  poweroff) end probe-shutdown ;;
  kexec)
    [ "$stage" = 2 ] && end kexec
    echo "=== KEXEC load"
    load -l "$next stage=2" || { echo "=== FAIL kexec load"; poweroff -f; }
    echo "=== KEXEC exec"
    kexec -e
    echo "=== FAIL kexec -e returned"; poweroff -f ;;
  kdump)
    # x86 passes elfcorehdr= on the command line, arm64 and riscv64 in the device tree.
    case "$cmdline" in *elfcorehdr=*) end kdump ;; esac
    [ -e /proc/vmcore ] && end kdump
    echo "=== KDUMP load"
    load -p "$next nr_cpus=1 reset_devices" || { echo "=== FAIL kexec -p"; poweroff -f; }
    echo "=== KDUMP crash"
    echo 1 > /proc/sys/kernel/sysrq
    echo c > /proc/sysrq-trigger
    echo "=== FAIL still alive after sysrq c"; poweroff -f ;;
  *) echo "=== FAIL unknown mode '$mode'"; poweroff -f ;;
esac
