# Initramfs and boots for Tools/capture (sourced).

# The kernel image, the command line and the QEMU machine of each device (TCG, one CPU).
device_arch() {
  case "$1" in intel-iommu) echo amd64 ;; arm-smmu-v3) echo arm64 ;; riscv-iommu) echo riscv64 ;; esac
}

# QEMU trace events, as ../shared/reference/linux-7.2-traces/README.md made them.
trace_events() {
  case "$1" in
    intel-iommu) printf '%s\n' 'vtd_reg*' 'vtd_inv_desc*' ;;
    arm-smmu-v3) printf '%s\n' 'smmuv3_*mmio' 'smmuv3_cmdq_opcode' 'smmuv3_write_gerror*' ;;
    riscv-iommu) printf '%s\n' 'riscv_iommu_*' 'memory_region_ops_*' ;;
  esac
}

# Keeps the events the parsers read (memory_region_ops_* only for the IOMMU's registers).
filter_trace() {
  case "$1" in
    intel-iommu) grep -a -E '^(vtd_reg|vtd_inv_desc)' ;;
    arm-smmu-v3) grep -a -E '^smmuv3_(read_mmio|write_mmio|cmdq_opcode|write_gerror)' ;;
    riscv-iommu) grep -a -E "^riscv_iommu_|^memory_region_ops_(read|write) .* name 'riscv-iommu-regs'\$" ;;
  esac
}

qemu_command() { # DEVICE KERNEL INITRD APPEND-EXTRA
  local dev=$1 kernel=$2 initrd=$3 extra=$4
  case "$dev" in
    intel-iommu)
      echo qemu-system-x86_64 -machine q35,kernel-irqchip=split -device intel-iommu,intremap=on \
        -m 2G -smp 1 -kernel "$kernel" -initrd "$initrd" \
        -append "'console=ttyS0 intel_iommu=on panic=-1 loglevel=4 $extra'" ;;
    arm-smmu-v3)
      echo qemu-system-aarch64 -machine virt,iommu=smmuv3 -cpu max -m 2G -smp 1 \
        -kernel "$kernel" -initrd "$initrd" -append "'console=ttyAMA0 panic=-1 loglevel=4 $extra'" ;;
    riscv-iommu)
      echo qemu-system-riscv64 -machine virt,aia=aplic-imsic -bios default -device riscv-iommu-pci \
        -m 2G -smp 1 -kernel "$kernel" -initrd "$initrd" -append "'console=ttyS0 panic=-1 loglevel=4 $extra'" ;;
  esac
}

scenario_args() {
  case "$1" in
    probe-shutdown) echo "mode=poweroff" ;;
    kexec) echo "mode=kexec" ;;
    kdump) echo "mode=kdump crashkernel=384M" ;;
  esac
}

# Writes a newc cpio of the folder $1 to $2, with the host's busybox-static (cpio -o).
mkcpio() {
  local bb="$WORK/root/amd64/usr/bin/busybox"
  (cd "$1" && find . -mindepth 1 | LC_ALL=C sort | "$bb" cpio -o -H newc 2>/dev/null) >"$2"
  [ -s "$2" ] || die "cpio of $1 failed"
}

# $WORK/initramfs/<arch>/{base,first}.cpio: base holds busybox, kexec and its libraries and
# /init; first is base followed by /vmlinuz and /initrd.img (= base) for kexec -l and -p.
build_initramfs() {
  local a=$1 src="$WORK/root/$1" out="$WORK/initramfs/$1"
  local stamp="$out/.built"
  [ -f "$stamp" ] && [ "$stamp" -nt "$LIB/init.sh" ] && [ "$stamp" -nt "$src" ] && return 0
  log "initramfs ($a): busybox, kexec, init"
  rm -rf "$out"; mkdir -p "$out/base/bin" "$out/base/sbin" "$out/base/proc" "$out/base/sys" \
    "$out/base/dev" "$out/base/tmp" "$out/extra"
  cp "$src/usr/bin/busybox" "$out/base/bin/busybox"
  ln -s busybox "$out/base/bin/sh"
  cp "$src/usr/sbin/kexec" "$out/base/sbin/kexec"
  install -m 755 "$LIB/init.sh" "$out/base/init"
  # The dynamic loader and the closure of kexec's shared libraries, from the unpacked packages.
  local queue=("$src/usr/sbin/kexec") done=" " elf need found interp
  interp=$(readelf -l "$src/usr/sbin/kexec" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
  found=$(find "$src/lib" "$src/usr/lib" -name "$(basename "$interp")" \( -type f -o -type l \) 2>/dev/null | head -n 1 || true)
  [ -n "$found" ] || die "the loader $interp is not in the unpacked packages ($a)"
  mkdir -p "$out/base/$(dirname "$interp")"
  cp -L "$found" "$out/base/$interp"
  while [ ${#queue[@]} -gt 0 ]; do
    elf=${queue[0]}; queue=("${queue[@]:1}")
    for need in $(readelf -d "$elf" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
      case "$done" in *" $need "*) continue ;; esac
      done="$done$need "
      found=$(find "$src/lib" "$src/usr/lib" -name "$need" \( -type f -o -type l \) 2>/dev/null | head -n 1 || true)
      [ -n "$found" ] || die "$need (needed by $(basename "$elf") for $a) is not in the unpacked packages"
      mkdir -p "$out/base/$(dirname "${found#"$src"}")"
      cp -L "$found" "$out/base/${found#"$src"}"
      queue+=("$out/base/${found#"$src"}")
    done
  done
  # The loader finds them through LD_LIBRARY_PATH, set by /init: every folder a library went to.
  local ldpath
  ldpath=$(cd "$out/base" && find . -name '*.so*' \( -type f -o -type l \) -printf '/%h\n' | sed 's|^/\./|/|' | sort -u | tr '\n' ':')
  sed -i "2i export LD_LIBRARY_PATH=${ldpath%:}" "$out/base/init"
  mkcpio "$out/base" "$out/base.cpio"
  cp "$(kernel_image "$a")" "$out/extra/vmlinuz"
  cp "$out/base.cpio" "$out/extra/initrd.img"
  mkcpio "$out/extra" "$out/extra.cpio"
  cat "$out/base.cpio" "$out/extra.cpio" >"$out/first.cpio"
  touch "$stamp"
}

# Boots DEVICE through SCENARIO and stores DEST/DEVICE/SCENARIO.{trace,console.log}.
capture_one() {
  local dev=$1 sc=$2 dest=$3 a run t0 t1 rc=0
  a=$(device_arch "$dev")
  [ -n "$a" ] || die "unknown device $dev"
  scenario_args "$sc" >/dev/null; [ -n "$(scenario_args "$sc")" ] || die "unknown scenario $sc"
  run="$WORK/runs/$dev/$sc"
  rm -rf "$run"; mkdir -p "$run" "$dest/$dev"
  trace_events "$dev" >"$run/events"
  local kernel initrd cmd
  kernel=$(kernel_image "$a")
  initrd="$WORK/initramfs/$a/first.cpio"
  cmd="$(qemu_command "$dev" "$kernel" "$initrd" "$(scenario_args "$sc")")"
  cmd="$cmd -display none -monitor none -serial file:$run/console.log -no-reboot -trace events=$run/events -D $run/raw.trace"
  echo "$cmd" >"$run/command"
  log "$dev/$sc: booting $(basename "$kernel") ($(cat "$WORK/root/$a/.kernel-package" 2>/dev/null))"
  t0=$(date +%s)
  eval "timeout $TIMEOUT nice -n $NICE $cmd" </dev/null >"$run/qemu.out" 2>&1 || rc=$?
  t1=$(date +%s)
  if ! grep -a -q "^=== END $sc" "$run/console.log" 2>/dev/null; then
    echo "capture: $dev/$sc: FAILED after $((t1 - t0))s (QEMU exit $rc): no '=== END $sc' on the console" >&2
    echo "---- console tail ($run/console.log) ----" >&2
    tail -n 40 "$run/console.log" >&2 2>/dev/null || true
    echo "---- qemu ----" >&2
    tail -n 10 "$run/qemu.out" >&2
    return 1
  fi
  filter_trace "$dev" <"$run/raw.trace" >"$dest/$dev/$sc.trace" || true
  # The console, without the firmware's banner noise and with line endings made plain.
  tr -d '\r' <"$run/console.log" | grep -a -v -E '^\s*$' >"$dest/$dev/$sc.console.log" || true
  local boots
  boots=$(grep -a -c '^=== BOOT' "$dest/$dev/$sc.console.log" || true)
  log "$dev/$sc: done in $((t1 - t0))s: $boots kernel(s), $(wc -l <"$dest/$dev/$sc.trace") trace lines"
  echo "$dev/$sc $((t1 - t0))s" >>"$WORK/timings"
}
