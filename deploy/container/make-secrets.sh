#!/usr/bin/env bash
# Make what compose.yaml mounts, once: ./pki (CA, each server's internal and
# public certificate, each database's TLS certificate) and ./secrets/<server>/
# (keys, JWT secret, first admin password, database URL and password, the
# hospital's master key, company's release-approval key; mode 0600) and
# .env (the hospital's tenant id).
# Uses the bulkhead CLI of a release build (BULKHEAD=… to point elsewhere).
set -euo pipefail
cd "$(dirname "$0")"
bulkhead="${BULKHEAD:-../../target/release/bulkhead}"
[ -x "$bulkhead" ] || { echo "build first: cargo build --release --bins (or set BULKHEAD)"; exit 2; }
[ -e secrets ] && { echo "./secrets exists: remove it (and ./pki) to start over"; exit 2; }
umask 077
tenant="${TENANT_ID:-$(cat /proc/sys/kernel/random/uuid)}"
random() { head -c 96 /dev/urandom | base64 | tr -d '/+=' | head -c "$1"; }

mkdir -p pki/ca pki/plane pki/public secrets
"$bulkhead" certs init --dir pki/ca
cp pki/ca/ca.crt pki/ca/ca.crl pki/plane/
for s in hospital company dev owner; do
  mkdir -p "secrets/$s" "pki/db/$s"
  tenant_arg=()
  [ "$s" = hospital ] && tenant_arg=(--tenant "$tenant")
  # The internal plane: the compose host name is the certificate's DNS name.
  "$bulkhead" certs issue --service "$s" "${tenant_arg[@]}" --dns "$s" --dir pki/ca
  cp "pki/ca/$s.crt" pki/plane/ && mv "pki/ca/$s.key" "secrets/$s/plane-key"
  # The public listener, for the name users type.
  "$bulkhead" certs public --dns "$s.example.org" --dns localhost --name "$s-public" --dir pki/ca
  cp "pki/ca/$s-public.crt" "pki/public/$s.crt" && mv "pki/ca/$s-public.key" "secrets/$s/tls-key"
  # The database's TLS certificate (the same CA verifies it: sslmode=verify-full).
  "$bulkhead" certs public --dns "$s-db" --name "$s-db" --dir pki/ca
  cp "pki/ca/$s-db.crt" "pki/db/$s/db.crt" && mv "pki/ca/$s-db.key" "secrets/$s/db-key"

  random 48 > "secrets/$s/jwt"
  random 24 > "secrets/$s/admin-password"
  password="$(random 32)"
  printf '%s' "$password" > "secrets/$s/db-password"
  printf 'postgres://bulkhead_%s:%s@%s-db:5432/bulkhead_%s?sslmode=verify-full&sslrootcert=/etc/bulkhead/plane/ca.crt' \
    "$s" "$password" "$s" "$s" > "secrets/$s/db-url"
done
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > secrets/hospital/master-key
# Company's release-approval key (Ed25519, PKCS#8); hospitals pin its public half.
"$bulkhead" release keygen --out secrets/company/approval > /dev/null
mv secrets/company/approval/signing.key secrets/company/approval-key
mv secrets/company/approval/signing.pub pki/company-approval.pub
rmdir secrets/company/approval
random 16 > secrets/hospital/s3-user
random 32 > secrets/hospital/s3-password
echo "BULKHEAD_TENANT_ID=$tenant" > .env
echo "made ./pki, ./secrets and .env (tenant $tenant); first admin passwords: secrets/<server>/admin-password"
