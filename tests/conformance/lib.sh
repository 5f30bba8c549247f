# SPDX-License-Identifier: MIT
# shellcheck shell=bash disable=SC2034 # CONF_* variables are for the test scripts
#
# Helpers shared by the conformance tests. Sourced, never run.
#
# A test script does:
#   set -euo pipefail
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   conf_begin NAME TOOL...                # work dir, EXIT trap, required tools
#   conf_card_new KEY [ukey-vkey args...]  # a fresh key (new state file)
#   conf_expect_ok "what" CMD...           # run a third-party client...
#   conf_expect_line "what" LINE           # ...and check what it printed
#
# Every check prints "ok - what"; the first failed check prints the command,
# its exit status and its whole output, and ends the script with status 1.
# The EXIT trap stops every key the script started (rig_cleanup), removes the
# work directory when the script passed, and when it failed keeps it and
# prints the tails of pcscd's log and of the test's keys' logs.

CONF_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# ctest (uk_add_rig_test) names the rig library in UK_RIG_LIB; by hand, the
# one next door is used (with UK_RIG_DIR, UK_VKEY, UK_RIG_WAIT set).
# shellcheck source=../rig/rig.sh
source "${UK_RIG_LIB:-$CONF_LIB_DIR/../rig/rig.sh}"

# The values ukey-vkey gives a new key (used by the test scripts).
CONF_PIN=123456
CONF_PUK=12345678
CONF_MGMT_3DES=010203040506070801020304050607080102030405060708

CONF_TEST=""
CONF_WORK=""
# The reader of the key conf_card_new / conf_card_again started last.
CONF_READER=""
CONF_CHECKS=0
# The last command run by conf_run: its words, exit status and output.
CONF_CMD=""
CONF_RC=0
CONF_OUT=""

conf__on_exit() {
    local rc=$?
    trap - EXIT
    if ! rig_cleanup; then
        printf 'FAIL [%s]: a key did not stop cleanly\n' "$CONF_TEST" >&2
        ((rc != 0)) || rc=1
    fi
    if ((rc == 0)); then
        [[ -n "$CONF_WORK" ]] && rm -rf -- "$CONF_WORK"
        printf '%s: %d checks passed\n' "$CONF_TEST" "$CONF_CHECKS"
    else
        if [[ -n "$CONF_WORK" ]]; then
            printf '%s: work files kept in %s\n' "$CONF_TEST" "$CONF_WORK" >&2
        fi
        conf__logs
    fi
    exit "$rc"
}

# The tails of pcscd's log and of this test's keys' logs (UK_RIG_TRACE=1
# puts the APDUs there).
conf__logs() {
    local f
    for f in "$UK_RIG_DIR/pcscd.log" "$UK_RIG_DIR/conf-$CONF_TEST-"*.log; do
        [[ -s "$f" ]] || continue
        printf -- '----- last 30 lines of %s -----\n' "$f" >&2
        tail -n 30 -- "$f" >&2
    done
}

# conf_begin NAME TOOL...: start a test; fail at once if a client is missing.
conf_begin() {
    local tool missing=()
    CONF_TEST="$1"
    shift
    for tool in openssl "$@"; do
        command -v "$tool" >/dev/null || missing+=("$tool")
    done
    if ((${#missing[@]} > 0)); then
        printf 'FAIL [%s]: not installed: %s (scripts/deps installs the clients)\n' \
            "$CONF_TEST" "${missing[*]}" >&2
        exit 1
    fi
    if [[ -z "${UK_RIG_DIR:-}" || ! -d "${UK_RIG_DIR:-}" ]]; then
        printf 'FAIL [%s]: no rig (UK_RIG_DIR); run through ctest, or start one with' \
            "$CONF_TEST" >&2
        printf ' tests/rig/rig.sh start DIR and set UK_RIG_DIR, UK_VKEY, UK_RIG_WAIT\n' >&2
        exit 1
    fi
    CONF_WORK="$(mktemp -d "${TMPDIR:-/tmp}/uk-conf-$CONF_TEST.XXXXXX")"
    trap conf__on_exit EXIT
    cd "$CONF_WORK"
}

# conf_module NAME: print the path of the PKCS#11 module NAME (e.g.
# opensc-pkcs11.so), from the multiarch library directories.
conf_module() {
    local name="$1" d
    for d in /usr/lib/*-linux-gnu /usr/lib64 /usr/lib /usr/local/lib; do
        if [[ -e "$d/$name" ]]; then
            printf '%s\n' "$d/$name"
            return 0
        fi
    done
    printf 'FAIL [%s]: PKCS#11 module %s not found (scripts/deps installs it)\n' \
        "$CONF_TEST" "$name" >&2
    exit 1
}

# ------------------------------------------------------------- keys ---

# A key's rig name: unique per test, so state files never mix.
conf_key_name() {
    printf 'conf-%s-%s\n' "$CONF_TEST" "$1"
}

# conf_card_new KEY [args...]: a key with a brand-new state file. Sets
# CONF_READER to its reader.
conf_card_new() {
    local name
    name="$(conf_key_name "$1")"
    shift
    rm -f -- "$UK_RIG_DIR/$name.state"
    rig_card_start "$name" "$@" || conf__fail_rig "key $name did not come up"
    CONF_READER="$(rig_card_reader "$name")"
}

# conf_card_again KEY [args...]: start a key again on the state it had.
conf_card_again() {
    local name
    name="$(conf_key_name "$1")"
    shift
    [[ -f "$UK_RIG_DIR/$name.state" ]] || conf__fail_rig "key $name has no state to restart from"
    rig_card_start "$name" "$@" || conf__fail_rig "key $name did not come back"
    CONF_READER="$(rig_card_reader "$name")"
}

conf_card_stop() {
    rig_card_stop "$(conf_key_name "$1")" ||
        conf__fail_rig "key $(conf_key_name "$1") did not stop"
}

# A rig step failed (the rig said why): fail without a client's output.
conf__fail_rig() {
    CONF_CMD=""
    conf_fail "$@"
}

# --------------------------------------------------------- checking ---

conf_ok() {
    CONF_CHECKS=$((CONF_CHECKS + 1))
    printf 'ok - %s\n' "$*"
}

# conf_fail MESSAGE: end the test, showing the last command and its output.
conf_fail() {
    {
        printf 'FAIL [%s]: %s\n' "$CONF_TEST" "$*"
        if [[ -n "$CONF_CMD" ]]; then
            printf '  last command: %s\n' "$CONF_CMD"
            printf '  exit status:  %s\n' "$CONF_RC"
            printf '  output:\n'
            printf '%s\n' "$CONF_OUT" | sed 's/^/    | /'
        fi
    } >&2
    exit 1
}

# conf_run CMD...: run CMD, keep its exit status and its stdout+stderr.
conf_run() {
    local q
    printf -v q '%q ' "$@"
    CONF_CMD="${q% }"
    if CONF_OUT="$("$@" 2>&1)"; then
        CONF_RC=0
    else
        CONF_RC=$?
    fi
}

# conf_expect_ok WHAT CMD...: CMD must succeed.
conf_expect_ok() {
    local what="$1"
    shift
    conf_run "$@"
    ((CONF_RC == 0)) || conf_fail "$what: expected success, got exit status $CONF_RC"
    conf_ok "$what"
}

# conf_expect_fail WHAT CMD...: CMD must fail (any non-zero status).
conf_expect_fail() {
    local what="$1"
    shift
    conf_run "$@"
    ((CONF_RC != 0)) || conf_fail "$what: expected a failure, got exit status 0"
    conf_ok "$what"
}

# conf_expect_line WHAT LINE: the last output has exactly this line.
conf_expect_line() {
    grep -Fxq -- "$2" <<<"$CONF_OUT" || conf_fail "$1: no line '$2' in the output"
    conf_ok "$1"
}

# conf_expect_match WHAT ERE: some line of the last output matches ERE.
conf_expect_match() {
    grep -Eq -- "$2" <<<"$CONF_OUT" || conf_fail "$1: nothing matches /$2/ in the output"
    conf_ok "$1"
}

# conf_expect_no_match WHAT ERE: no line of the last output matches ERE.
conf_expect_no_match() {
    if grep -Eq -- "$2" <<<"$CONF_OUT"; then
        conf_fail "$1: /$2/ unexpectedly in the output"
    fi
    conf_ok "$1"
}

# conf_expect_eq WHAT ACTUAL EXPECTED
conf_expect_eq() {
    if [[ "$2" != "$3" ]]; then
        conf_fail "$1: got '$2', expected '$3'"
    fi
    conf_ok "$1"
}

# conf_field LABEL: the value after "LABEL:" (spaces or tabs around the
# colon) on the first such line of the last output.
conf_field() {
    awk -v l="$1" '
        { s = $0; sub(/^[ \t]+/, "", s) }
        index(s, l) == 1 {
            r = substr(s, length(l) + 1)
            if (r ~ /^[ \t]*:/) { sub(/^[ \t]*:[ \t]*/, "", r); print r; exit }
        }' <<<"$CONF_OUT"
}

# conf_unescape TEXT: turn \xHH escapes (as clients print non-ASCII bytes
# of a name) back into bytes.
conf_unescape() {
    printf '%b' "$1"
}

# ------------------------------------------------------ certificates ---

# conf_fp FILE: SHA-256 fingerprint of a certificate, PEM or DER.
conf_fp() {
    local form=DER
    grep -q -- '-----BEGIN CERTIFICATE-----' "$1" 2>/dev/null && form=PEM
    openssl x509 -inform "$form" -in "$1" -noout -fingerprint -sha256 | sed 's/^.*=//'
}

# conf_subject FILE: the subject as OpenSSL prints it in UTF-8
# ("CN=张三, O=测试").
conf_subject() {
    openssl x509 -in "$1" -noout -subject -nameopt utf8 | sed 's/^subject=//'
}

# conf_serial FILE: the certificate serial in hex.
conf_serial() {
    openssl x509 -in "$1" -noout -serial | sed 's/^serial=//'
}

# conf_serial_norm HEX: a serial as hex digits, upper case, without the 00
# pad bytes a DER INTEGER may carry (so client output compares with -serial).
conf_serial_norm() {
    local s="${1^^}"
    while [[ "$s" == 00?* ]]; do
        s="${s#00}"
    done
    printf '%s\n' "$s"
}

# conf_pubkey FILE: the certificate's public key in PEM on stdout.
conf_pubkey() {
    openssl x509 -in "$1" -noout -pubkey
}

# conf_ca: a throw-away P-256 CA in ca.key / ca.pem.
conf_ca() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
        -out ca.pem -subj "/CN=ukey conformance test CA" -days 30 2>/dev/null ||
        conf_fail "openssl could not make the test CA"
}

# conf_cert_for PUB SUBJECT OUT: a certificate from the test CA for the
# public key in PUB (PEM), with a UTF-8 subject ("/CN=张三/O=测试").
# `openssl x509 -new` takes no -utf8 in OpenSSL 3.0, so the subject goes
# through a request signed by a throw-away key, and -force_pubkey puts the
# key's public key in its place.
conf_cert_for() {
    local pub="$1" subj="$2" out="$3"
    if ! openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$out.req.key" -subj "$subj" -utf8 -out "$out.csr" 2>/dev/null; then
        conf_fail "openssl could not make a request for $out"
    fi
    if ! openssl x509 -req -in "$out.csr" -force_pubkey "$pub" -CA ca.pem -CAkey ca.key \
        -days 30 -out "$out" 2>/dev/null; then
        conf_fail "openssl could not make a certificate for $pub"
    fi
}

# conf_keypair ALG NAME SUBJECT: NAME.key and a self-signed NAME.pem, ALG
# one of rsa2048, p256, p384.
conf_keypair() {
    local alg="$1" name="$2" subj="$3"
    local opts=()
    case "$alg" in
    rsa2048) opts=(-newkey rsa:2048) ;;
    p256) opts=(-newkey ec -pkeyopt ec_paramgen_curve:P-256) ;;
    p384) opts=(-newkey ec -pkeyopt ec_paramgen_curve:P-384) ;;
    *) conf_fail "conf_keypair: unknown algorithm $alg" ;;
    esac
    openssl req -x509 "${opts[@]}" -nodes -keyout "$name.key" -out "$name.pem" \
        -subj "$subj" -utf8 -days 30 2>/dev/null ||
        conf_fail "openssl could not make key pair $name"
}

# conf_apdu_data: the response data bytes of the last `opensc-tool -s`
# output, as one upper-case hex string (from the hex dump after "Received").
conf_apdu_data() {
    awk '/^Received/ { on = 1; next } /^Sending/ { on = 0 }
         on { print substr($0, 1, 48) }' <<<"$CONF_OUT" | tr -d ' \n'
}

# conf_p11_object KIND LABEL: the lines of one object in the last
# `pkcs11-tool -O` output: the block whose heading starts with KIND
# ("Certificate Object", "Public Key Object", ...) and whose label is LABEL.
conf_p11_object() {
    awk -v kind="$1" -v label="$2" '
        function flush() { if (hit && want) printf "%s", block; block = ""; hit = 0 }
        /^[^ \t]/ { flush(); want = index($0, kind) == 1 }
        { block = block $0 "\n" }
        /^[ \t]+label:/ { l = $0; sub(/^[ \t]+label:[ \t]*/, "", l); if (l == label) hit = 1 }
        END { flush() }' <<<"$CONF_OUT"
}

# conf_ec_point CERT: the certificate's EC public point (04 || X || Y) in
# lower-case hex.
conf_ec_point() {
    local n
    conf_pubkey "$1" | openssl pkey -pubin -outform DER >"$1.spki.der"
    # P-256: 65-byte point; P-384: 97 bytes; both end the SubjectPublicKeyInfo.
    n=65
    openssl pkey -pubin -in "$1.spki.der" -inform DER -noout -text 2>/dev/null |
        grep -q 'NIST CURVE: P-384' && n=97
    tail -c "$n" "$1.spki.der" | od -An -tx1 | tr -d ' \n'
}
