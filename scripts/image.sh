#!/usr/bin/env bash
# The origin worker as a container image (Containerfile), built from a static musl binary.
#
#   scripts/image.sh ensure   install what is missing, skip what is there: the Rust target
#                             x86_64-unknown-linux-musl, and from apt musl-tools (musl-gcc, for
#                             ring's C), podman, ca-certificates, file and binutils
#   scripts/image.sh build    ensure, then: the static binary (profile `container`); proof that it is static;
#                             the build context in target/image/context/; `podman build` tagging
#                             localhost/projects-tasks/origin-worker:dev; the binary copied back
#                             out of the image into target/image/extracted/origin-worker (the end-
#                             to-end test tests/tests/image.rs runs that copy: ORIGIN_IMAGE_BIN);
#                             the image's and the binary's sizes
#
# Environment:
#   IMAGE_TAG          the tag to build (default localhost/projects-tasks/origin-worker:dev)
#   PODMAN_GLOBAL_ARGS extra global podman flags, word-split. None are needed on these
#                      machines (root on ext4: podman's overlay driver and its default storage,
#                      /var/lib/containers, work; a rootless user gets ~/.local/share/containers).
#                      Where overlay is unavailable (podman inside an unprivileged container):
#                      "--storage-driver vfs --root DIR --runroot DIR" (a store of its own: the
#                      default one refuses a second driver), e.g. DIR under .data/
#
# No base image is pulled (none can be, here): the Containerfile starts FROM scratch and has no
# RUN step, so the build executes nothing and needs no isolation, network or cgroup settings.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$root"

target=x86_64-unknown-linux-musl
image_tag="${IMAGE_TAG:-localhost/projects-tasks/origin-worker:dev}"
work="$root/target/image"
context="$work/context"
extracted="$work/extracted/origin-worker"
built="$root/target/$target/container/origin-worker"
# Word-split on purpose: several flags may be given.
# shellcheck disable=SC2206
podman_global=(${PODMAN_GLOBAL_ARGS:-})

podman_() { podman "${podman_global[@]}" "$@"; }

# --- ensure -------------------------------------------------------------------------------

cmd_ensure() {
  command -v cargo >/dev/null || die "cargo is missing: install Rust with rustup first"
  if ! rustup target list --installed | grep -qx "$target"; then
    say "Adding the $target target"
    rustup target add "$target"
  fi
  # ring (rustls's crypto) compiles C and assembly with the cc crate, which for this target
  # looks for x86_64-linux-musl-gcc, then musl-gcc, on PATH: Debian's musl-tools has the
  # latter, so no CC_x86_64_unknown_linux_musl is needed. The final link uses the host's cc
  # with Rust's self-contained musl start files.
  local missing=()
  command -v musl-gcc >/dev/null || missing+=(musl-tools)
  command -v podman >/dev/null || missing+=(podman)
  [[ -s /etc/ssl/certs/ca-certificates.crt ]] || missing+=(ca-certificates)
  command -v file >/dev/null || missing+=(file)
  command -v readelf >/dev/null || missing+=(binutils)
  # Rootless podman maps users through newuidmap/newgidmap.
  if [[ $(id -u) -ne 0 ]] && ! command -v newuidmap >/dev/null; then missing+=(uidmap); fi
  if (( ${#missing[@]} > 0 )); then
    say "Installing ${missing[*]} (apt)"
    apt_install "${missing[@]}"
  fi
}

# --- build --------------------------------------------------------------------------------

# assert_static FILE: no program interpreter, no shared library needed; says how it knows.
assert_static() {
  local bin="$1" kind segments dynamic
  kind="$(file -b "$bin")"
  [[ $kind == *"statically linked"* || $kind == *"static-pie linked"* ]] \
    || die "$bin is not statically linked: $kind"
  # Read whole first: `readelf | grep -q` could end readelf with SIGPIPE under pipefail.
  segments="$(readelf -lW "$bin")"
  dynamic="$(readelf -dW "$bin")"
  [[ $segments != *INTERP* ]] || die "$bin asks for a program interpreter"
  [[ $dynamic != *"(NEEDED)"* ]] || die "$bin needs shared libraries"
  note "static: file says \"${kind%%, BuildID*}\""
  note "static: readelf: no INTERP segment, no NEEDED entry; ldd: $(ldd "$bin" 2>&1 | head -n 1 | sed 's/^[[:space:]]*//')"
}

stage_context() {
  rm -rf "$context"
  mkdir -p "$context/etc/ssl/certs"
  cp "$built" "$context/origin-worker"
  chmod 0755 "$context/origin-worker"
  cp /etc/ssl/certs/ca-certificates.crt "$context/etc/ssl/certs/ca-certificates.crt"
  chmod 0644 "$context/etc/ssl/certs/ca-certificates.crt"
  # The user the image runs as (USER 65532:65532), named as distroless names it; root is there
  # for tools that expect it, with no shell and no password.
  printf '%s\n' \
    'root:x:0:0:root:/root:/sbin/nologin' \
    'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$context/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nonroot:x:65532:' >"$context/etc/group"
  chmod 0644 "$context/etc/passwd" "$context/etc/group"
}

human() { numfmt --to=iec-i --suffix=B --format='%.1f' "$1"; }

cmd_build() {
  local started=$SECONDS step
  cmd_ensure

  say "Building the origin worker (the container profile, static: $target)"
  step=$SECONDS
  cargo build --quiet --profile container --locked --target "$target" -p origin-worker
  note "cargo: $((SECONDS - step)) s"
  assert_static "$built"

  say "Building the image $image_tag"
  step=$SECONDS
  stage_context
  local version revision epoch
  version="$(awk -F'"' '/^version = / { print $2; exit }' origin-worker/Cargo.toml)"
  revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
  epoch="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
  # --format docker: HEALTHCHECK exists only in Docker's image format (OCI images drop it).
  # --layers=false: one image, no intermediate image per instruction (nothing to cache when
  # nothing runs; intermediates of earlier builds would otherwise pile up, unprunable).
  # --timestamp: the creation time and the files' times are the last commit's (or
  # SOURCE_DATE_EPOCH), so the same binary gives the same layer digest (the Docker format's
  # config still names the build container, so not the same image id). The labels that change
  # with the commit are given here.
  podman_ build --quiet --format docker --layers=false --timestamp "$epoch" \
    -f "$root/Containerfile" -t "$image_tag" \
    --label "org.opencontainers.image.version=$version" \
    --label "org.opencontainers.image.revision=$revision" \
    --label "org.opencontainers.image.created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)" \
    "$context" >/dev/null
  note "podman build: $((SECONDS - step)) s"

  say "Copying the binary back out of the image"
  rm -rf "$(dirname "$extracted")"
  mkdir -p "$(dirname "$extracted")"
  local container
  # --no-healthcheck: podman would otherwise try to register the HEALTHCHECK's timer with
  # systemd (absent here) when the container is removed. The container is never started.
  container="$(podman_ create --no-healthcheck "$image_tag")"
  podman_ cp "$container:/origin-worker" "$extracted" \
    || { podman_ rm -f "$container" >/dev/null; die "podman cp failed"; }
  podman_ rm "$container" >/dev/null
  cmp -s "$built" "$extracted" || die "the binary in the image differs from the one built"
  [[ -x "$extracted" ]] || die "$extracted lost its executable bit"
  "$extracted" --version >/dev/null || die "the extracted binary does not run"
  assert_static "$extracted"

  # The images this tag pointed at before (untagged now) go.
  podman_ image prune --force \
    --filter "label=org.opencontainers.image.title=origin-worker" >/dev/null || true

  local image_bytes binary_bytes gzip_bytes
  image_bytes="$(podman_ image inspect --format '{{.Size}}' "$image_tag")"
  binary_bytes="$(stat -c %s "$extracted")"
  gzip_bytes="$(gzip -1 -c "$extracted" | wc -c)"
  say "Image $image_tag built in $((SECONDS - started)) s"
  note "image:  $image_bytes bytes ($(human "$image_bytes"))"
  note "binary: $binary_bytes bytes ($(human "$binary_bytes"); $(human "$gzip_bytes") gzipped)"
  note "config: $(podman_ image inspect --format 'user {{.Config.User}}, entrypoint {{.Config.Entrypoint}} {{.Config.Cmd}}, healthcheck {{.Config.Healthcheck.Test}}' "$image_tag")"
  note "ORIGIN_IMAGE_BIN=$extracted"
}

case "${1:-}" in
  ensure) cmd_ensure ;;
  build) cmd_build ;;
  *) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
