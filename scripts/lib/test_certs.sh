# shellcheck shell=bash
# Throwaway certificates for the TLS suites (sourced library): a test CA
# and certificates it signs, made with the openssl CLI in a directory of
# the suite's own, valid for two days.
#
#   ct_cert DIR NAME ISSUER SUBJECT_ALT_NAMES
#       DIR/NAME.key (P-256) and DIR/NAME.pem: ISSUER "-" makes a
#       self-signed CA; otherwise signed by DIR/ISSUER.{pem,key}, with the
#       subjectAltName given (e.g. "IP:203.0.113.10,DNS:example.test",
#       "" for none). Returns non-zero if openssl failed.

[[ -n ${_TEST_CERTS_SH_LOADED:-} ]] && return 0
_TEST_CERTS_SH_LOADED=1

ct_cert() {
  local dir="$1" name="$2" issuer="$3" san="$4" ext="$1/$2.ext"
  openssl ecparam -name prime256v1 -genkey -noout -out "$dir/$name.key" 2>/dev/null || return 1
  if [[ $issuer == - ]]; then
    openssl req -x509 -new -key "$dir/$name.key" -subj "/CN=$name" -days 2 \
      -addext basicConstraints=critical,CA:TRUE -out "$dir/$name.pem" 2>/dev/null
    return
  fi
  printf 'basicConstraints=CA:FALSE\n%s\n' "${san:+subjectAltName=$san}" >"$ext"
  openssl req -new -key "$dir/$name.key" -subj "/CN=$name" -out "$dir/$name.csr" 2>/dev/null &&
    openssl x509 -req -in "$dir/$name.csr" -CA "$dir/$issuer.pem" -CAkey "$dir/$issuer.key" \
      -CAcreateserial -days 2 -extfile "$ext" -out "$dir/$name.pem" 2>/dev/null
}
