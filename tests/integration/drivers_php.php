<?php
// tests/integration/drivers_php.php: PHP's mysqli and PDO (mysqlnd) against a bare node, for
// drivers_test.sh.
// Environment: NN_PORT, NN_CERTS, NN_OTHER_CA, NN_USER, NN_PASSWORD (REQUIRE X509), NN_MODE.
// text: mysqli query() and PDO with emulated prepares (parameters quoted into the text);
// prepared: mysqli::prepare and PDO with ATTR_EMULATE_PREPARES false (COM_STMT_PREPARE).
// Prints "ok NAME" / "FAIL NAME"; exits 1 on a failure.

$failed = 0;
function check($name, $cond, $detail = null) {
    global $failed;
    echo ($cond ? "ok   " : "FAIL ") . $name . ($cond ? "" : " " . var_export($detail, true)) . "\n";
    if (!$cond) {
        $failed++;
    }
}

$certs = getenv('NN_CERTS');
$port = (int)getenv('NN_PORT');
$user = getenv('NN_USER');
$pw = getenv('NN_PASSWORD');
$prepared = getenv('NN_MODE') === 'prepared';

function mysqli_x509($ca) {
    global $certs, $port, $user, $pw;
    $m = mysqli_init();
    $m->options(MYSQLI_OPT_CONNECT_TIMEOUT, 10);
    $m->options(MYSQLI_OPT_SSL_VERIFY_SERVER_CERT, true);
    $m->ssl_set("$certs/client-key.pem", "$certs/client-cert.pem", $ca, null, null);
    $m->real_connect('127.0.0.1', $user, $pw, '', $port, null, MYSQLI_CLIENT_SSL);
    return $m;
}

function pdo_x509($ca, $emulate) {
    global $certs, $port, $user, $pw;
    return new PDO("mysql:host=127.0.0.1;port=$port", $user, $pw, [
        PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
        PDO::ATTR_EMULATE_PREPARES => $emulate,
        PDO::ATTR_TIMEOUT => 10,
        PDO::MYSQL_ATTR_SSL_CA => $ca,
        PDO::MYSQL_ATTR_SSL_CERT => "$certs/client-cert.pem",
        PDO::MYSQL_ATTR_SSL_KEY => "$certs/client-key.pem",
        PDO::MYSQL_ATTR_SSL_VERIFY_SERVER_CERT => true,
    ]);
}

mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);
try {
    mysqli_x509(getenv('NN_OTHER_CA'));
    check('mysqli_server_certificate_is_verified', false, 'connected with another CA');
} catch (Throwable $e) {
    check('mysqli_server_certificate_is_verified', true);
}
try {
    pdo_x509(getenv('NN_OTHER_CA'), true);
    check('pdo_server_certificate_is_verified', false, 'connected with another CA');
} catch (Throwable $e) {
    check('pdo_server_certificate_is_verified', true);
}

// ------------------------------------------------------------------ mysqli
$m = mysqli_x509("$certs/ca.pem");
check('mysqli_x509_login_over_verified_tls', true);
$r = $m->query("SHOW STATUS LIKE 'Ssl_version'")->fetch_row();
check('mysqli_session_is_tls', strpos($r[1], 'TLSv1.') === 0, $r);
if (!$prepared) {
    $r = $m->query('SELECT CURRENT_USER() AS u, 1+1 AS two, 7/2 AS half')->fetch_assoc();
    check('mysqli_text', $r['u'] === 'drv@%' && (int)$r['two'] === 2 && $r['half'] === '3.5000', $r);
    $s = $m->real_escape_string("it's");
    $r = $m->query("SELECT '$s' AS s, @@session.sql_mode AS m, DATABASE() AS d")->fetch_assoc();
    check('mysqli_escaped_text', $r['s'] === "it's" && $r['d'] === null, $r);
    check('mysqli_set_charset', $m->set_charset('utf8mb4'));
    check('mysqli_autocommit', $m->autocommit(false) && $m->commit() && $m->autocommit(true));
    check('mysqli_read_only_transaction',
          $m->begin_transaction(MYSQLI_TRANS_START_READ_ONLY) && $m->rollback());
    check('mysqli_select_db', $m->select_db('appdb')
          && $m->query('SELECT DATABASE()')->fetch_row()[0] === 'appdb');
} else {
    $st = $m->prepare('SELECT ? + 1 AS n, ? AS s');
    foreach ([0, 1] as $round) {
        $n = 41 + $round;
        $s = "hello $round";
        $st->bind_param('is', $n, $s);
        $st->execute();
        $r = $st->get_result()->fetch_assoc();
        check("mysqli_execute_round_$round", (int)$r['n'] === 42 + $round && $r['s'] === "hello $round", $r);
    }
    $st->close();
    $st = $m->prepare('SELECT ? AS z, @@version_comment AS vc');
    $z = null;
    $st->bind_param('s', $z);
    $st->execute();
    $r = $st->get_result()->fetch_assoc();
    check('mysqli_null_parameter', $r['z'] === null && $r['vc'] === 'nodenet', $r);
    $st->close();
}
$m->close();

// ------------------------------------------------------------------ PDO
$p = pdo_x509("$certs/ca.pem", !$prepared);
check('pdo_x509_login_over_verified_tls', true);
$st = $p->prepare('SELECT ? + 1 AS n, ? AS s, ? AS z');
$st->execute([41, "it's", null]);
$r = $st->fetch(PDO::FETCH_ASSOC);
check('pdo_parameters', (int)$r['n'] === 42 && $r['s'] === "it's" && $r['z'] === null, $r);
$st->execute([1, 'again', 'x']);
$r = $st->fetch(PDO::FETCH_ASSOC);
check('pdo_parameters_again', (int)$r['n'] === 2 && $r['s'] === 'again' && $r['z'] === 'x', $r);
$r = $p->query('SELECT @@version_comment AS vc, CONNECTION_ID() AS id')->fetch(PDO::FETCH_ASSOC);
check('pdo_query', $r['vc'] === 'nodenet' && (int)$r['id'] > 0, $r);
// PDO::commit() asks the OK packet's status flags whether a transaction is open
// (SERVER_STATUS_IN_TRANS): the node reports it from BEGIN until COMMIT / ROLLBACK.
check('pdo_begin_transaction', $p->beginTransaction() && $p->inTransaction());
check('pdo_commit', $p->commit() && !$p->inTransaction());
check('pdo_rollback', $p->beginTransaction() && $p->rollBack() && !$p->inTransaction());
exit($failed ? 1 : 0);
