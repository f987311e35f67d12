#!/usr/bin/env bash
# Builds wolfSSL 5.5.4 from Debian 12's own source package, with assembly
# (AES-NI, AVX, SP math in asm), into a cached prefix inside the build area:
#   build/deps/wolfssl-5.5.4-asm/{include,lib/libwolfssl.a}
# Why: Debian's binary libwolfssl is built without assembly (AES-GCM ~30x
# slower, a handshake pair ~4.5x dearer). The build links this static library.
#
# Cached: a stamp file holds a hash of this script's configure flags; when it
# matches and the library exists, the script exits at once (a no-op). Change a
# flag and the next run rebuilds. Set SM_WOLFSSL_PREFIX to build elsewhere.
#
# Needs root (or sudo) only the first time: it adds a deb-src entry mirroring
# the machine's Debian sources, runs apt-get update, and installs dpkg-dev,
# autoconf, automake and libtool.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WOLFSSL_VERSION=5.5.4
PREFIX="${SM_WOLFSSL_PREFIX:-$ROOT/build/deps/wolfssl-$WOLFSSL_VERSION-asm}"
STAMP="$PREFIX/.soth-build-stamp"

# Every feature interception needs, nothing it does not. Names are the ones
# wolfSSL 5.5.4's configure.ac knows (checked against that release).
CONFIGURE_FLAGS=(
	--enable-static --disable-shared --with-pic
	--disable-examples --disable-crypttests --disable-benchmark
	# speed: x86-64 assembly, AES-NI, single-precision math with asm
	--enable-intelasm --enable-aesni --enable-sp --enable-sp-asm --enable-sp-math-all
	# protocols and extensions
	--enable-tls13 --disable-oldtls --enable-sni --enable-alpn
	--enable-session-ticket --enable-supportedcurves --enable-extended-master
	--enable-secure-renegotiation-info
	# crypto: ECC (P-256 CA and leaves, ECDHE), X25519, ChaCha20-Poly1305
	--enable-ecc --enable-curve25519 --enable-chacha --enable-poly1305 --enable-aesgcm
	# certificates: signing (wc_SignCert), key export, extensions, IP SANs in
	# upstream verification, alternate chains (cross-signed roots)
	--enable-certgen --enable-certext --enable-certreq --enable-keygen --enable-ip-alt-name
	--enable-altcertchains --enable-errorstrings
)
# 5.5.4 has no --enable-keylog-export (it came later). The native secret
# callbacks (wolfSSL_set_tls13_secret_cb, wolfSSL_set_secret_cb) and
# wolfSSL_get_client_random are enough to write SSLKEYLOGFILE lines without
# the OpenSSL compatibility layer: HAVE_SECRET_CALLBACK. KEEP_PEER_CERT keeps
# the upstream's certificate for failure reports; WOLFSSL_ALT_NAMES exposes
# subjectAltName handling.
EXTRA_CFLAGS="-O2 -g -DHAVE_SECRET_CALLBACK -DKEEP_PEER_CERT -DWOLFSSL_ALT_NAMES"

want_stamp=$(printf '%s\n' "$WOLFSSL_VERSION" "${CONFIGURE_FLAGS[@]}" "$EXTRA_CFLAGS" | sha256sum | cut -d' ' -f1)
if [[ -f "$STAMP" && -f "$PREFIX/lib/libwolfssl.a" && "$(cat "$STAMP")" == "$want_stamp" ]]; then
	exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; fi
APT=(env DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 -qq)

echo "wolfssl: building $WOLFSSL_VERSION with assembly into $PREFIX" >&2
start=$(date +%s)

# 1. Build tools. dpkg-dev provides dpkg-source (used by apt-get source).
need=()
for p in dpkg-dev autoconf automake libtool make gcc; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		need+=("$p")
	fi
done

# 2. deb-src entries: mirror the machine's Debian sources (same URIs, suites,
#    components, keyring) with Types: deb-src, in a file of our own.
SRC_FILE=/etc/apt/sources.list.d/soth-mitm-deb-src.sources
updated=0
# (captured first: with pipefail, grep -q closing the pipe early could fail
# the whole pipeline)
showsrc=$(apt-cache showsrc wolfssl 2>/dev/null || true)
if ! grep -q "^Version: $WOLFSSL_VERSION-" <<<"$showsrc"; then
	if [[ ! -f "$SRC_FILE" ]]; then
		tmp=$(mktemp)
		if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
			sed -n '/^Types:/,$p' /etc/apt/sources.list.d/debian.sources |
				sed 's/^Types:.*/Types: deb-src/' >"$tmp"
		elif [[ -f /etc/apt/sources.list ]] && grep -q '^deb ' /etc/apt/sources.list; then
			# one-line format: turn each "deb ..." line into a deb822 stanza
			grep '^deb ' /etc/apt/sources.list | while read -r _ rest; do
				opts=""
				if [[ "$rest" == \[* ]]; then opts="${rest%%]*}"; rest="${rest#*] }"; fi
				read -r uri suite comps <<<"$rest"
				printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: %s\n' "$uri" "$suite" "$comps"
				if [[ "$opts" == *signed-by=* ]]; then
					sb="${opts#*signed-by=}"
					printf 'Signed-By: %s\n' "${sb%% *}"
				fi
				printf '\n'
			done >"$tmp"
		else
			echo "wolfssl: no Debian apt sources found to derive deb-src from" >&2
			exit 1
		fi
		$SUDO install -m 0644 "$tmp" "$SRC_FILE"
		rm -f "$tmp"
		echo "wolfssl: added $SRC_FILE" >&2
	fi
	"${APT[@]}" update
	updated=1
fi
if ((${#need[@]})); then
	if ((!updated)); then "${APT[@]}" update; fi
	echo "wolfssl: installing ${need[*]}" >&2
	"${APT[@]}" install -y --no-install-recommends "${need[@]}" >/dev/null
fi

# 3. Fetch and unpack the source package (Debian's patches applied) in a
#    scratch directory next to the prefix; it is removed afterwards.
WORK="$(dirname "$PREFIX")/wolfssl-src.$$"
rm -rf "$WORK"
mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT
# Debian 12 carries exactly one wolfssl source version, 5.5.4 plus security
# patches (-2+deb12uN); we take whichever revision the archive has.
(cd "$WORK" && apt-get source -qq wolfssl >"$WORK/source.log" 2>&1) || {
	cat "$WORK/source.log" >&2
	echo "wolfssl: apt-get source wolfssl failed" >&2
	exit 1
}
SRC="$WORK/wolfssl-$WOLFSSL_VERSION"
if [[ ! -d "$SRC" ]]; then
	echo "wolfssl: expected $SRC after apt-get source (is this Debian 12?)" >&2
	ls "$WORK" >&2
	exit 1
fi

# 4. Configure, build, install. -j2 at most: the machine is shared.
JOBS=${SM_JOBS:-2}
cd "$SRC"
if [[ ! -x configure ]]; then
	./autogen.sh >/dev/null 2>&1
fi
rm -rf "$PREFIX"
./configure -q --prefix="$PREFIX" "${CONFIGURE_FLAGS[@]}" CFLAGS="$EXTRA_CFLAGS" >/dev/null
make -s -j"$JOBS" >/dev/null 2>"$WORK/make.log" || {
	tail -n 40 "$WORK/make.log" >&2
	exit 1
}
make -s install >/dev/null
# The options header records what this build enables; consumers must include
# <wolfssl/options.h> before any other wolfSSL header.
test -f "$PREFIX/include/wolfssl/options.h"
printf '%s\n' "$want_stamp" >"$STAMP"
echo "wolfssl: done in $(($(date +%s) - start)) s" >&2
