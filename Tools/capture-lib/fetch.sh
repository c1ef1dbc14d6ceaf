# Fetching for Tools/capture (sourced). Two private apt configurations under $WORK/apt, built from
# the machine's own Debian sources (no other origin):
#   host:   the machine's suites plus <codename>-backports, amd64 only: installs QEMU 10 and
#           OpenSBI into / with apt (the only change to the system).
#   target: trixie and trixie-backports for amd64, arm64, riscv64: downloads the kernels,
#           busybox-static, kexec-tools and the libraries kexec needs; they are unpacked with
#           dpkg-deb -x under $WORK/root/<arch>, never installed.

KERNEL_SERIES=${CAPTURE_KERNEL_SERIES:-7.2}
# Debian's ABI tag of trixie's kernels (sid builds carry +deb14: not taken).
KERNEL_DEB=${CAPTURE_KERNEL_DEB:-deb13}
TARGET_SUITE=${CAPTURE_TARGET_SUITE:-trixie}
ARCHES=(amd64 arm64 riscv64)
HOST_PACKAGES=(qemu-system-x86 qemu-system-arm qemu-system-riscv opensbi qemu-system-data)

# Runs a command, retrying transient mirror errors ("Mirror sync in progress", hash sum
# mismatches, network hiccups) up to 6 times.
retry() {
  local n=1 out
  while :; do
    if out=$("$@" 2>&1); then printf '%s\n' "$out" | tail -n 3 >&2; return 0; fi
    mkdir -p "$WORK/apt"; printf '%s\n' "$out" >"$WORK/apt/last.log"
    printf '%s\n' "$out" | tail -n 5 >&2
    [ $n -ge "${RETRIES:-4}" ] && { echo "capture: giving up after $n tries: $*" >&2; return 1; }
    if printf '%s' "$out" | grep -q -E 'Mirror sync in progress|Hash Sum mismatch|File has unexpected size|Temporary failure|Connection|timed out|503|502'; then
      echo "capture: transient apt error, retrying in $((n * 10))s ($n/${RETRIES:-4})" >&2
      sleep $((n * 10)); n=$((n + 1))
    else
      return 1
    fi
  done
}

# The Debian mirror and keyring the machine already uses: the first deb822 or one-line source
# whose URI serves a Debian archive (not the security archive).
debian_mirror() {
  local f uri=""
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri=$(awk '/^URIs:/{for(i=2;i<=NF;i++) if ($i ~ /debian\/?$/ && $i !~ /security/) {print $i; exit}}' "$f")
    [ -n "$uri" ] && break
  done
  if [ -z "$uri" ]; then
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [ -f "$f" ] || continue
      uri=$(awk '$1=="deb"{for(i=2;i<=NF;i++) if ($i ~ /^(http|https|ftp|file):/ && $i ~ /debian\/?$/ && $i !~ /security/) {print $i; exit}}' "$f")
      [ -n "$uri" ] && break
    done
  fi
  [ -n "$uri" ] || { echo "capture: no Debian mirror in /etc/apt" >&2; return 1; }
  echo "${uri%/}"
}

apt_private() { # apt_private NAME ARCHES... -> echoes apt options for a private state
  local name=$1; shift
  local d="$WORK/apt/$name"
  local opts=(-o "Dir::Etc::SourceList=$d/sources.list" -o "Dir::Etc::SourceParts=$d/none"
    -o "Dir::State::Lists=$d/lists" -o "Dir::Cache=$d/cache" -o "APT::Architectures::=")
  local a
  for a in "$@"; do opts+=(-o "APT::Architectures::=$a"); done
  printf '%s\n' "${opts[@]}"
}

fetch_all() {
  local mirror codename keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  mirror=$(debian_mirror)
  codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
  mkdir -p "$WORK/apt/host/lists/partial" "$WORK/apt/host/cache/archives/partial" \
    "$WORK/apt/target/lists/partial" "$WORK/apt/target/cache/archives/partial" "$WORK/debs" "$WORK/root"

  # host: the machine's own sources (Debian only) plus backports of its release.
  if ! have_host_tools; then
    {
      grep -h -v '^#' /etc/apt/sources.list 2>/dev/null | grep -E "^deb .*debian" || true
      echo "deb [signed-by=$keyring] $mirror $codename main"
      echo "deb [signed-by=$keyring] $mirror $codename-updates main"
      echo "deb [signed-by=$keyring] $mirror $codename-backports main"
    } >"$WORK/apt/host/sources.list"
    mapfile -t H < <(apt_private host amd64)
    log "apt (host): updating $codename, $codename-updates, $codename-backports from $mirror"
    retry nice -n "$NICE" apt-get "${H[@]}" -q update
    log "apt (host): installing ${HOST_PACKAGES[*]} from $codename-backports"
    DEBIAN_FRONTEND=noninteractive retry nice -n "$NICE" apt-get "${H[@]}" -q -y \
      --no-install-recommends -t "$codename-backports" install "${HOST_PACKAGES[@]}"
    have_host_tools || die "QEMU 10 is still missing after the install"
  fi

  # target: kernels, busybox, kexec for the three architectures, unpacked only.
  if [ ! -f "$WORK/root/.done" ]; then
    local bp_arches=amd64,arm64,riscv64 bad b stamp="$WORK/apt/target/updated"
    mapfile -t T < <(apt_private target "${ARCHES[@]}")
    if [ -n "$(find "$stamp" -mmin -720 2>/dev/null)" ]; then
      # Indexes fetched less than 12 hours ago: reuse them (the stamp holds the backports arches).
      bp_arches=$(cat "$stamp")
      write_target_sources "$mirror" "$keyring" "$bp_arches"
      log "apt (target): reusing the indexes of $(date -r "$stamp" '+%H:%M') (backports for $bp_arches)"
    else
    write_target_sources "$mirror" "$keyring" "$bp_arches"
    log "apt (target): updating $TARGET_SUITE, $TARGET_SUITE-backports (${ARCHES[*]}), sid (riscv64)"
    if ! retry nice -n "$NICE" apt-get "${T[@]}" -q update; then
      # apt drops every index of a suite when one of them is inconsistent: keep the suite for
      # the architectures whose index is sound; the others go through mirror_download.
      bad=$(grep -o "$TARGET_SUITE-backports/main/binary-[a-z0-9]*/Packages" "$WORK/apt/last.log" | sed 's|.*binary-||;s|/.*||' | sort -u)
      [ -n "$bad" ] || die "apt-get update failed (see above)"
      for b in $bad; do bp_arches=$(echo ",$bp_arches," | sed "s/,$b,/,/;s/^,//;s/,\$//"); done
      log "WARNING: the mirror serves an inconsistent $TARGET_SUITE-backports index for: $bad; using it for $bp_arches only"
      write_target_sources "$mirror" "$keyring" "$bp_arches"
      retry nice -n "$NICE" apt-get "${T[@]}" -q update || die "apt-get update failed (see above)"
    fi
    echo "$bp_arches" >"$stamp"
    fi
    local a kpkg p
    for a in "${ARCHES[@]}"; do
      kpkg=$( (apt-cache "${T[@]}" pkgnames "linux-binary-$KERNEL_SERIES." 2>/dev/null;
        mirror_index "$mirror" "$TARGET_SUITE-backports" "$a" | awk '$1=="Package:" {print $2}') |
        grep -E "^linux-binary-${KERNEL_SERIES//./\\.}\.[0-9]+\+$KERNEL_DEB-$a\$" | sort -V | tail -n 1)
      [ -n "$kpkg" ] || die "no linux-binary-$KERNEL_SERIES.*-$a in $TARGET_SUITE-backports"
      rm -rf "$WORK/root/$a"; mkdir -p "$WORK/root/$a"
      local want=() missing=() deps
      # kexec-tools and everything it depends on (on amd64 it links Xen's libraries).
      deps=$(nice -n "$NICE" apt-cache "${T[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts \
        --no-breaks --no-replaces --no-enhances --no-pre-depends "kexec-tools:$a" | grep -E '^[a-z0-9]' | sed 's/:.*//' | sort -u)
      [ -n "$deps" ] || die "kexec-tools:$a is not in the indexes"
      want=("$kpkg" busybox-static $deps)
      for p in "${want[@]}"; do [ -n "$(deb_file "$p" "$a")" ] || missing+=("$p"); done
      if [ ${#missing[@]} -gt 0 ]; then
        log "apt (target): downloading ${missing[*]} for $a"
        (cd "$WORK/debs" && RETRIES=3 retry nice -n "$NICE" apt-get "${T[@]}" -q download "${missing[@]/%/:$a}") || {
          # Packages apt cannot see (named in its errors) come directly from the mirror; apt
          # fetches the rest.
          local unseen rest=()
          unseen=$(sed -n -E "s/^E: (Unable to locate package|Can't select candidate version from package|Package) ([^: ]+).*/\2/p" "$WORK/apt/last.log" | sort -u)
          [ -n "$unseen" ] || die "apt-get download failed (see above)"
          for p in "${missing[@]}"; do
            if printf '%s\n' "$unseen" | grep -q -x -F "$p"; then
              mirror_download "$mirror" "$p" "$a" "$TARGET_SUITE-backports" "$TARGET_SUITE"
            else rest+=("$p"); fi
          done
          [ ${#rest[@]} -eq 0 ] || (cd "$WORK/debs" && RETRIES=2 retry nice -n "$NICE" apt-get "${T[@]}" -q download "${rest[@]/%/:$a}") ||
            die "apt-get download failed (see above)"
        }
      fi
      for p in "${want[@]}"; do
        [ -n "$(deb_file "$p" "$a")" ] || die "$p:$a was not downloaded"
        nice -n "$NICE" dpkg-deb -x "$(deb_file "$p" "$a")" "$WORK/root/$a"
      done
      [ -n "$(kernel_image "$a")" ] || die "no kernel image in $kpkg"
      echo "$kpkg" >"$WORK/root/$a/.kernel-package"
    done
    touch "$WORK/root/.done"
  fi
  local a
  for a in "${ARCHES[@]}"; do build_initramfs "$a"; done
}

have_host_tools() {
  local q
  for q in qemu-system-x86_64 qemu-system-aarch64 qemu-system-riscv64; do
    command -v "$q" >/dev/null || return 1
    "$q" --version | head -n 1 | grep -q -E 'version (1[0-9]|[2-9][0-9])\.' || return 1
  done
}

# The Packages index of one suite and architecture, straight from the Debian mirror (used only
# when apt refused that index, e.g. a mirror serving a stale file during a sync).
mirror_index() {
  local mirror=$1 suite=$2 arch=$3 f="$WORK/apt/direct/$2_$3_Packages"
  mkdir -p "$WORK/apt/direct"
  [ -s "$f" ] || curl -fsSL --retry 3 "$mirror/dists/$suite/main/binary-$arch/Packages.xz" | xz -dc >"$f" || rm -f "$f"
  [ -s "$f" ] && cat "$f"
  return 0
}

# Downloads PACKAGE for ARCH from the first SUITE whose index (fetched directly) lists it, and
# checks it against the index's SHA256. Only for packages apt could not see (see mirror_index).
mirror_download() {
  local mirror=$1 pkg=$2 arch=$3; shift 3
  local suite rec file sum
  for suite in "$@"; do
    rec=$(mirror_index "$mirror" "$suite" "$arch" | awk -v p="$pkg" 'BEGIN{RS=""} index("\n" $0 "\n", "\nPackage: " p "\n") {print; exit}')
    [ -n "$rec" ] || continue
    file=$(printf '%s\n' "$rec" | awk '$1=="Filename:"{print $2}')
    sum=$(printf '%s\n' "$rec" | awk '$1=="SHA256:"{print $2}')
    log "WARNING: $pkg:$arch not visible to apt; fetching $mirror/$file (checked against the $suite index's SHA256)"
    curl -fsSL --retry 3 "$mirror/$file" -o "$WORK/debs/$(basename "$file")" || die "download of $file failed"
    echo "$sum  $WORK/debs/$(basename "$file")" | sha256sum -c --quiet - || die "SHA256 mismatch for $file"
    return 0
  done
  die "$pkg:$arch is in none of: $*"
}

write_target_sources() { # MIRROR KEYRING BACKPORTS-ARCHES
  {
    echo "deb [signed-by=$2 arch=amd64,arm64,riscv64] $1 $TARGET_SUITE main"
    echo "deb [signed-by=$2 arch=$3] $1 $TARGET_SUITE-backports main"
    # kexec-tools is built for riscv64 only in sid: riscv64 takes it, and the libraries it
    # links, from there (apt picks the newest candidate).
    echo "deb [signed-by=$2 arch=riscv64] $1 sid main"
  } >"$WORK/apt/target/sources.list"
}

# The kernel image unpacked for ARCH (/usr/lib/modules/VERSION/vmlinuz, or /boot/vmlinu*).
kernel_image() {
  find "$WORK/root/$1/usr/lib/modules" "$WORK/root/$1/boot" -maxdepth 2 -name 'vmlinu*' -type f 2>/dev/null | sort | head -n 1 || true
}

# The newest downloaded .deb of PACKAGE for ARCH (or for all architectures).
deb_file() {
  ls "$WORK/debs/${1}_"*"_$2.deb" "$WORK/debs/${1}_"*"_all.deb" 2>/dev/null | sort -V | tail -n 1
}
