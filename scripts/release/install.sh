#!/bin/sh
# Installs session-manager-plugin and ssm-session (one binary, two names) for this user,
# without sudo: downloads the release archive for this machine, checks its SHA-256 against
# the release's SHA256SUMS, and puts both names in ~/.local/bin.
#
#   sh install.sh [--from URL_OR_DIRECTORY] [--bin-dir DIR]
#
# --from: where the release files are (default: the release this script belongs to);
#         a local directory holding the archive and SHA256SUMS works too.
# --bin-dir: where the commands go (default: ~/.local/bin).
# `npm run release` fills in the version and the default location.
set -eu

VERSION='__VERSION__'
FROM='__BASE_URL__'
BIN_DIR="${HOME}/.local/bin"
PACKAGE='session-manager-plugin-ts'

fail() {
  echo "install.sh: $*" >&2
  exit 1
}

usage() {
  cat <<'USAGE'
Installs session-manager-plugin and ssm-session for this user (no sudo).
  sh install.sh [--from URL_OR_DIRECTORY] [--bin-dir DIR]
--from     where the release files are (default: the release this script belongs to)
--bin-dir  where the commands go (default: ~/.local/bin)
USAGE
}

while [ $# -gt 0 ]; do
  case "$1" in
    --from) [ $# -ge 2 ] || fail "--from needs a URL or a directory"; FROM="$2"; shift 2 ;;
    --bin-dir) [ $# -ge 2 ] || fail "--bin-dir needs a directory"; BIN_DIR="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) fail "unknown option $1 (see --help)" ;;
  esac
done
[ -n "$FROM" ] && [ "$FROM" != '__BASE_URL''__' ] || fail "no release location known: pass --from URL_OR_DIRECTORY"

case "$(uname -s)" in
  Linux) os=linux ;;
  Darwin) os=darwin ;;
  *) fail "no binary for $(uname -s); on Windows use the .zip, elsewhere: npm install -g $PACKAGE" ;;
esac
case "$(uname -m)" in
  x86_64|amd64) arch=x64 ;;
  aarch64|arm64) arch=arm64 ;;
  *) fail "no binary for $(uname -m); use npm install -g $PACKAGE (Node 20 or newer)" ;;
esac

# The Linux binaries are the official Node ones: glibc 2.28 or newer (not musl/Alpine).
if [ "$os" = linux ]; then
  glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null | sed -n 's/^glibc //p')
  [ -n "$glibc" ] || fail "this system has no glibc (musl?); use npm install -g $PACKAGE with Node 20 or newer"
  major=${glibc%%.*}
  minor=${glibc#*.}
  minor=${minor%%.*}
  if [ "$major" -lt 2 ] || { [ "$major" -eq 2 ] && [ "$minor" -lt 28 ]; }; then
    fail "glibc $glibc is older than 2.28; use npm install -g $PACKAGE with a Node that runs here"
  fi
fi

# The macOS binaries are the official Node ones too: macOS 13.5 or newer.
if [ "$os" = darwin ]; then
  macos=$(sw_vers -productVersion 2>/dev/null || echo 0)
  major=${macos%%.*}
  minor=${macos#"$major"}
  minor=${minor#.}
  minor=${minor%%.*}
  if [ "$major" -lt 13 ] || { [ "$major" -eq 13 ] && [ "${minor:-0}" -lt 5 ]; }; then
    fail "macOS $macos is older than 13.5; use npm install -g $PACKAGE with a Node that runs here"
  fi
fi

archive="$PACKAGE-$VERSION-$os-$arch.tar.gz"
work=$(mktemp -d "${TMPDIR:-/tmp}/ssm-install.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

fetch() { # fetch NAME: copies or downloads $FROM/NAME into $work
  case "$FROM" in
    http://*|https://*)
      if command -v curl >/dev/null 2>&1; then
        curl -fsSL --retry 2 -o "$work/$1" "${FROM%/}/$1" || fail "cannot download ${FROM%/}/$1"
      elif command -v wget >/dev/null 2>&1; then
        wget -q -O "$work/$1" "${FROM%/}/$1" || fail "cannot download ${FROM%/}/$1"
      else
        fail "neither curl nor wget is installed"
      fi ;;
    *) cp "$FROM/$1" "$work/$1" 2>/dev/null || fail "no $1 in $FROM" ;;
  esac
}

fetch SHA256SUMS
fetch "$archive"

expected=$(awk -v f="$archive" '$2 == f || $2 == "*" f { print $1 }' "$work/SHA256SUMS")
[ -n "$expected" ] || fail "SHA256SUMS has no line for $archive"
if command -v sha256sum >/dev/null 2>&1; then
  actual=$(sha256sum "$work/$archive" | awk '{ print $1 }')
else
  actual=$(shasum -a 256 "$work/$archive" | awk '{ print $1 }')
fi
[ "$actual" = "$expected" ] || fail "checksum mismatch for $archive (expected $expected, got $actual): nothing installed"

tar -xzf "$work/$archive" -C "$work"
unpacked="$work/$PACKAGE-$VERSION-$os-$arch"
[ -x "$unpacked/session-manager-plugin" ] || fail "$archive does not hold session-manager-plugin"
installed=$("$unpacked/session-manager-plugin" --version 2>/dev/null) || fail "the binary in $archive does not run on this system: nothing installed"

mkdir -p "$BIN_DIR"
# Into place by rename, so a running copy keeps its file; the second name is a hard link.
cp "$unpacked/session-manager-plugin" "$BIN_DIR/.session-manager-plugin.new"
chmod 755 "$BIN_DIR/.session-manager-plugin.new"
mv -f "$BIN_DIR/.session-manager-plugin.new" "$BIN_DIR/session-manager-plugin"
ln -f "$BIN_DIR/session-manager-plugin" "$BIN_DIR/.ssm-session.new"
mv -f "$BIN_DIR/.ssm-session.new" "$BIN_DIR/ssm-session"

echo "Installed session-manager-plugin and ssm-session $installed in $BIN_DIR"
case ":${PATH}:" in
  *":$BIN_DIR:"*) ;;
  *) echo "Add $BIN_DIR to your PATH, e.g. in ~/.profile: export PATH=\"$BIN_DIR:\$PATH\"" ;;
esac
