#!/usr/bin/env bash
# mysql/ end to end with the mariadb CLI: TLS and plaintext logins, every REQUIRE kind and
# combination, both auth plugins, wrong passwords and certificates, user management
# privileges, require_secure_transport and turning TLS on/off by reload, durability.
set -uo pipefail
. "$(dirname "$0")/mysql_lib.sh"

MYSQL_PORT=$(free_port)
RPC_PORT=$(free_port)
make_certs
write_config on off
start_node
C="$T_DIR/certs"
O="$T_DIR/other"

# q USER PASSWORD MODE SQL: MODE is plain | tls | cert (client cert) | admincert |
# othercert (a cert from another CA) | tls12
q() {
    local user=$1 pw=$2 mode=$3 sql=$4
    local args=(-h 127.0.0.1 -P "$MYSQL_PORT" -u "$user" "-p$pw" -N -B --connect-timeout=10)
    case "$mode" in
    plain) args+=(--skip-ssl) ;;
    tls) args+=(--ssl --ssl-ca "$C/ca.pem" --ssl-verify-server-cert) ;;
    tls12) args+=(--ssl --ssl-ca "$C/ca.pem" --tls-version=TLSv1.2) ;;
    cert12) args+=(--ssl --ssl-ca "$C/ca.pem" --tls-version=TLSv1.2 --ssl-cert "$C/client-cert.pem" --ssl-key "$C/client-key.pem") ;;
    cert) args+=(--ssl --ssl-ca "$C/ca.pem" --ssl-cert "$C/client-cert.pem" --ssl-key "$C/client-key.pem") ;;
    admincert) args+=(--ssl --ssl-ca "$C/ca.pem" --ssl-cert "$C/admin-cert.pem" --ssl-key "$C/admin-key.pem") ;;
    othercert) args+=(--ssl --ssl-ca "$C/ca.pem" --ssl-cert "$O/client-cert.pem" --ssl-key "$O/client-key.pem") ;;
    esac
    mariadb "${args[@]}" -e "$sql" 2>&1
}
root() { q root rootpw tls "$1"; }
denied() { echo "ERROR 1045 (28000): Access denied for user '$1'@'127.0.0.1' (using password: YES)"; }

# ---- the done-when check
out=$(q root rootpw tls "SHOW STATUS LIKE 'Ssl_cipher'")
check tls13_cipher_shown "Ssl_cipher	TLS_AES_" "$out"
out=$(root "SHOW SESSION STATUS LIKE 'Ssl_version'")
check tls13_version "Ssl_version	TLSv1.3" "$out"
out=$(q root rootpw plain "SHOW STATUS LIKE 'Ssl_cipher'")
check plaintext_root_after_cached_login "Ssl_cipher	" "$out"
check_not plaintext_has_no_cipher "TLS_" "$out"
out=$(root "SHOW STATUS LIKE 'Ssl_server_not_after'")
check server_not_after_shown "GMT" "$out"
out=$(root "SELECT @@version_comment LIMIT 1; SELECT CURRENT_USER(), USER(), DATABASE(), NULL, 42")
check version_comment "nodenet" "$out"
check session_functions "root@%	root@127.0.0.1	NULL	NULL	42" "$out"

# ---- accounts with every requirement
out=$(root "CREATE USER 'u_none'@'%' IDENTIFIED WITH mysql_native_password BY 'pw_none';
CREATE USER 'u_ssl'@'127.0.0.1' IDENTIFIED BY 'pw_ssl' REQUIRE SSL;
CREATE USER 'u_x509' IDENTIFIED BY 'pw_x509' REQUIRE X509;
CREATE USER 'u_cipher' IDENTIFIED BY 'pw_c' REQUIRE CIPHER 'TLS_AES_256_GCM_SHA384';
CREATE USER 'u_issuer' IDENTIFIED BY 'pw_i' REQUIRE ISSUER '/C=CN/O=nodenet/CN=nodenet-ca';
CREATE USER 'u_subject' IDENTIFIED BY 'pw_s' REQUIRE SUBJECT '/C=CN/O=nodenet/CN=mysql-client';
CREATE USER 'u_both' IDENTIFIED BY 'pw_b' REQUIRE SUBJECT '/C=CN/O=nodenet/CN=mysql-client' AND ISSUER '/C=CN/O=nodenet/CN=nodenet-ca';
CREATE USER 'u_all' IDENTIFIED BY 'pw_a' REQUIRE CIPHER 'TLS_AES_256_GCM_SHA384' SUBJECT '/C=CN/O=nodenet/CN=mysql-client' ISSUER '/C=CN/O=nodenet/CN=nodenet-ca';
CREATE USER 'cold'@'%' IDENTIFIED BY 'pw_cold';
SELECT 'created'")
check users_created "created" "$out"
out=$(root "CREATE USER 'u_none'@'%' IDENTIFIED BY 'x'")
check create_existing_fails "ERROR 1396 (HY000)" "$out"
out=$(root "CREATE USER IF NOT EXISTS 'u_none'@'%' IDENTIFIED BY 'x'; SELECT 'noop'")
check create_if_not_exists_noop "noop" "$out"

check require_none_plain "u_none@%" "$(q u_none pw_none plain 'SELECT CURRENT_USER()')"
check require_none_tls "u_none@%" "$(q u_none pw_none tls 'SELECT CURRENT_USER()')"
check native_wrong_password "$(denied u_none)" "$(q u_none nope plain 'SELECT 1')"

check require_ssl_tls_ok "u_ssl@127.0.0.1" "$(q u_ssl pw_ssl tls 'SELECT CURRENT_USER()')"
# (after a TLS login the fast path needs no TLS: the requirement is what refuses)
check require_ssl_plain_denied "$(denied u_ssl)" "$(q u_ssl pw_ssl plain 'SELECT 1')"
check sha2_wrong_password_tls "$(denied u_ssl)" "$(q u_ssl wrong tls 'SELECT 1')"

check x509_no_cert_denied "$(denied u_x509)" "$(q u_x509 pw_x509 tls 'SELECT 1')"
check x509_cert_ok "u_x509@%" "$(q u_x509 pw_x509 cert 'SELECT CURRENT_USER()')"
check x509_admin_cert_ok "u_x509@%" "$(q u_x509 pw_x509 admincert 'SELECT CURRENT_USER()')"
out=$(q u_x509 pw_x509 othercert 'SELECT CURRENT_USER()')
check other_ca_cert_handshake_fails "ERROR 2026" "$out"

# (security/'s rule: REQUIRE CIPHER also needs a verified client certificate)
check cipher_tls13_ok "u_cipher@%" "$(q u_cipher pw_c cert 'SELECT CURRENT_USER()')"
check cipher_tls12_denied "$(denied u_cipher)" "$(q u_cipher pw_c cert12 'SELECT 1')"
check cipher_no_cert_denied "$(denied u_cipher)" "$(q u_cipher pw_c tls 'SELECT 1')"

check issuer_cert_ok "u_issuer@%" "$(q u_issuer pw_i cert 'SELECT CURRENT_USER()')"
check issuer_no_cert_denied "$(denied u_issuer)" "$(q u_issuer pw_i tls 'SELECT 1')"

check subject_cert_ok "u_subject@%" "$(q u_subject pw_s cert 'SELECT CURRENT_USER()')"
check subject_wrong_cert_denied "$(denied u_subject)" "$(q u_subject pw_s admincert 'SELECT 1')"

check both_cert_ok "u_both@%" "$(q u_both pw_b cert 'SELECT CURRENT_USER()')"
check both_admin_cert_denied "$(denied u_both)" "$(q u_both pw_b admincert 'SELECT 1')"
check both_no_cert_denied "$(denied u_both)" "$(q u_both pw_b tls 'SELECT 1')"
check both_plain_denied "$(denied u_both)" "$(q u_both pw_b plain 'SELECT 1')"
check both_other_ca_fails "ERROR 2026" "$(q u_both pw_b othercert 'SELECT 1')"
check both_wrong_password "$(denied u_both)" "$(q u_both nope cert 'SELECT 1')"

check all_cert_ok "u_all@%" "$(q u_all pw_a cert 'SELECT CURRENT_USER()')"
check all_tls12_denied "$(denied u_all)" "$(q u_all pw_a cert12 'SELECT 1')"
check all_admin_cert_denied "$(denied u_all)" "$(q u_all pw_a admincert 'SELECT 1')"
out=$(root "SHOW CREATE USER 'u_both'@'%'")
check show_create_user_require "REQUIRE SUBJECT '/C=CN/O=nodenet/CN=mysql-client' ISSUER '/C=CN/O=nodenet/CN=nodenet-ca'" "$out"
check_not show_create_user_no_cleartext "pw_b" "$out"

# caching_sha2_password: with no cached entry the full auth runs: without TLS through our
# RSA key (the client asks for it), with TLS in cleartext inside TLS; a wrong password fails
# both ways; once cached, the fast path works over plaintext.
check sha2_full_auth_rsa_wrong "$(denied cold)" "$(q cold nope plain 'SELECT 1')"
check sha2_full_auth_rsa_plain "cold@%" "$(q cold pw_cold plain 'SELECT CURRENT_USER()')"
check sha2_full_auth_tls "cold@%" "$(q cold pw_cold tls 'SELECT CURRENT_USER()')"
check sha2_fast_path_plain "cold@%" "$(q cold pw_cold plain 'SELECT CURRENT_USER()')"

# ---- ALTER / DROP / privileges
out=$(root "ALTER USER 'cold'@'%' IDENTIFIED BY 'pw_new'; SELECT 'altered'")
check alter_password "altered" "$out"
check alter_old_password_denied "$(denied cold)" "$(q cold pw_cold tls 'SELECT 1')"
check alter_new_password_ok "cold@%" "$(q cold pw_new tls 'SELECT CURRENT_USER()')"
root "ALTER USER 'u_ssl'@'127.0.0.1' REQUIRE NONE" >/dev/null
check alter_require_none_plain_ok "u_ssl@127.0.0.1" "$(q u_ssl pw_ssl plain 'SELECT CURRENT_USER()')"
out=$(q u_none pw_none plain "CREATE USER 'evil' IDENTIFIED BY 'x'")
check non_admin_cannot_create "ERROR 1227 (42000)" "$out"
root "GRANT CREATE USER ON *.* TO 'u_none'@'%'" >/dev/null
out=$(q u_none pw_none plain "CREATE USER 'made'@'%' IDENTIFIED WITH mysql_native_password BY 'm'; SELECT 'made'")
check granted_admin_can_create "made" "$out"
check made_user_logs_in "made@%" "$(q made m plain 'SELECT CURRENT_USER()')"
root "REVOKE CREATE USER ON *.* FROM 'u_none'@'%'" >/dev/null
check revoked_admin_cannot_drop "ERROR 1227" "$(q u_none pw_none plain "DROP USER 'made'")"
root "DROP USER 'made'@'%'" >/dev/null
check dropped_user_denied "$(denied made)" "$(q made m plain 'SELECT 1')"
check drop_missing_fails "ERROR 1396" "$(root "DROP USER 'made'@'%'")"
check drop_if_exists_ok "gone" "$(root "DROP USER IF EXISTS 'made'@'%'; SELECT 'gone'")"

# ---- SQL surface
check connect_with_db "appdb" "$(mariadb -h 127.0.0.1 -P "$MYSQL_PORT" -u root -prootpw --ssl -D appdb -N -B -e 'SELECT DATABASE()' 2>&1)"
check show_grants_root "GRANT ALL PRIVILEGES ON *.* TO \`root\`@\`%\`" "$(root 'SHOW GRANTS')"
check show_grants_other "GRANT USAGE ON *.* TO \`u_x509\`@\`%\`" "$(root "SHOW GRANTS FOR 'u_x509'@'%'")"
check syntax_error_1064 "ERROR 1064 (42000) at line 1: You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version for the right syntax to use near 'DELETE FROM t' at line 1" "$(root 'DELETE FROM t')"
check show_variables_ssl "have_ssl	YES" "$(root "SHOW VARIABLES LIKE '%ssl%'")"
check show_variables_rst "require_secure_transport	OFF" "$(root "SHOW VARIABLES LIKE 'require_secure_transport'")"
check set_session_var "0" "$(root 'SET autocommit=0; SELECT @@autocommit')"
check unknown_variable "ERROR 1193" "$(root 'SELECT @@no_such_thing')"
check_not show_warnings_empty "ERROR" "$(root 'SHOW WARNINGS; SHOW DATABASES')"

# ---- require_secure_transport by reload
write_config on on
reload_node
out=$(q u_none pw_none plain 'SELECT 1')
check require_secure_transport_refuses "ERROR 3159 (HY000): Connections using insecure transport are prohibited while --require_secure_transport=ON." "$out"
check require_secure_transport_tls_ok "u_none@%" "$(q u_none pw_none tls 'SELECT CURRENT_USER()')"
check rst_variable_on "require_secure_transport	ON" "$(root "SHOW VARIABLES LIKE 'require_secure_transport'")"

# ---- TLS off, then on again, by reload: takes effect for new connections at once
write_config off off
reload_node
check tls_off_refuses_ssl "ERROR 2026" "$(q u_none pw_none tls 'SELECT 1')"
check tls_off_plain_ok "u_none@%" "$(q u_none pw_none plain 'SELECT CURRENT_USER()')"
check tls_off_have_ssl "have_ssl	DISABLED" "$(q u_none pw_none plain "SHOW VARIABLES LIKE 'have_ssl'")"
write_config on off
reload_node
check tls_on_again "Ssl_version	TLSv1.3" "$(q u_none pw_none tls "SHOW STATUS LIKE 'Ssl_version'")"

# ---- durability: an acknowledged change survives a crash (SIGKILL right after the ack)
out=$(root "CREATE USER 'durable'@'%' IDENTIFIED WITH mysql_native_password BY 'dpw'; SELECT 'acked'")
check durable_create_acked "acked" "$out"
kill -9 "$NODE_PID"
wait "$NODE_PID" 2>/dev/null
NODE_PID=""
start_node
check durable_user_after_crash "durable@%" "$(q durable dpw plain 'SELECT CURRENT_USER()')"

# ---- the catalog survives a restart, bootstrap does not run again
stop_node
ROOT_PW=other start_node
check restart_keeps_root_password "root@%" "$(q root rootpw tls 'SELECT CURRENT_USER()')"
check restart_keeps_users "u_both@%" "$(q u_both pw_b cert 'SELECT CURRENT_USER()')"
check restart_keeps_alter "cold@%" "$(q cold pw_new tls 'SELECT CURRENT_USER()')"
check_not no_second_bootstrap "mysql.bootstrap user=root host=% password=from_env" \
    "$(cat "$T_DIR/node.log")"

finish
