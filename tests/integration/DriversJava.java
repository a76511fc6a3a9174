// tests/integration/DriversJava.java: MariaDB Connector/J (Debian's libmariadb-java) against
// a bare node, for drivers_test.sh; run as `java -cp mariadb-java-client.jar DriversJava.java`.
// Environment: NN_PORT, NN_CERTS, NN_OTHER_CA, NN_USER, NN_PASSWORD (REQUIRE X509), NN_MODE,
// NN_KEYSTORE (PKCS#12 with the client key, password "storepw").
// text: useServerPrepStmts=false (PreparedStatement parameters are quoted into the text);
// prepared: useServerPrepStmts=true (COM_STMT_PREPARE / EXECUTE). Connector/J falls back to
// client-side statements when the server cannot prepare; the test checks which it got.
// Prints "ok NAME" / "FAIL NAME"; exits 1 on a failure.
import java.math.BigDecimal;
import java.nio.file.Paths;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

public class DriversJava {
    static int failed = 0;

    static void check(String name, boolean cond, Object detail) {
        System.out.println((cond ? "ok   " : "FAIL ") + name + (cond ? "" : " " + detail));
        if (!cond) {
            failed++;
        }
    }

    static Connection connect(String ca, boolean serverPrep) throws SQLException {
        String url = "jdbc:mariadb://127.0.0.1:" + System.getenv("NN_PORT") + "/"
            + "?useSsl=true&serverSslCert=" + ca
            + "&keyStore=" + System.getenv("NN_KEYSTORE") + "&keyStorePassword=storepw"
            + "&keyStoreType=PKCS12&connectTimeout=10000&socketTimeout=20000"
            + "&useServerPrepStmts=" + serverPrep;
        return DriverManager.getConnection(url, System.getenv("NN_USER"),
                                           System.getenv("NN_PASSWORD"));
    }

    static String one(Connection c, String sql, int col) throws SQLException {
        try (Statement s = c.createStatement(); ResultSet r = s.executeQuery(sql)) {
            return r.next() ? r.getString(col) : "<no row>";
        }
    }

    static void text(Connection c) throws SQLException {
        String v = one(c, "SHOW STATUS LIKE 'Ssl_version'", 2);
        check("session_is_tls", v != null && v.startsWith("TLSv1."), v);
        v = one(c, "SELECT CURRENT_USER()", 1);
        check("current_user_is_the_x509_account", "drv@%".equals(v), v);
        try (Statement s = c.createStatement();
             ResultSet r = s.executeQuery("SELECT 1+1 AS two, 7/2 AS half, NOW() AS t")) {
            r.next();
            check("arithmetic_types", r.getLong(1) == 2
                  && new BigDecimal("3.5000").equals(r.getBigDecimal(2)) && r.getTimestamp(3) != null,
                  r.getString(1) + " " + r.getString(2));
        }
        try (PreparedStatement ps = c.prepareStatement("SELECT ? + 1 AS n, ? AS s, ? AS z")) {
            ps.setInt(1, 41);
            ps.setString(2, "it's");
            ps.setNull(3, java.sql.Types.VARCHAR);
            try (ResultSet r = ps.executeQuery()) {
                r.next();
                check("client_side_parameters", r.getLong(1) == 42 && "it's".equals(r.getString(2))
                      && r.getString(3) == null, r.getString(1) + " " + r.getString(2));
            }
        }
        c.setAutoCommit(false);
        c.commit();
        c.rollback();
        c.setAutoCommit(true);
        check("autocommit_commit_rollback", "1".equals(one(c, "SELECT @@autocommit", 1)), null);
        c.setTransactionIsolation(Connection.TRANSACTION_READ_COMMITTED);
        check("transaction_isolation", c.getTransactionIsolation() == Connection.TRANSACTION_READ_COMMITTED, null);
        check("is_valid", c.isValid(5), null);
        c.setReadOnly(true);
        c.setReadOnly(false);
        c.setAutoCommit(false);
        java.sql.Savepoint sp = c.setSavepoint("sp1");
        c.rollback(sp);
        c.releaseSavepoint(c.setSavepoint("sp2"));
        c.commit();
        c.setAutoCommit(true);
        check("read_only_and_savepoints", true, null);
        check("no_catalog", c.getCatalog() == null || c.getCatalog().isEmpty(), c.getCatalog());
        c.setCatalog("appdb");
        check("set_catalog", "appdb".equals(c.getCatalog()), c.getCatalog());
    }

    static void prepared(Connection c) throws SQLException {
        for (int round = 0; round < 2; round++) {
            try (PreparedStatement ps = c.prepareStatement("SELECT ? + 1 AS n, ? AS s")) {
                String kind = ps.getClass().getSimpleName();
                check("server_side_statement", kind.startsWith("ServerSide"), kind);
                ps.setInt(1, 41 + round);
                ps.setString(2, "hello " + round);
                try (ResultSet r = ps.executeQuery()) {
                    check("execute_round_" + round, r.next() && r.getLong(1) == 42 + round
                          && ("hello " + round).equals(r.getString(2)), null);
                }
            }
        }
        try (PreparedStatement ps = c.prepareStatement("SELECT ? AS z, @@version_comment")) {
            ps.setNull(1, java.sql.Types.INTEGER);
            try (ResultSet r = ps.executeQuery()) {
                check("null_parameter", r.next() && r.getString(1) == null
                      && "nodenet".equals(r.getString(2)), null);
            }
        }
    }

    public static void main(String[] args) throws Exception {
        String certs = System.getenv("NN_CERTS");
        boolean prep = "prepared".equals(System.getenv("NN_MODE"));
        try (Connection wrong = connect(System.getenv("NN_OTHER_CA"), prep)) {
            check("server_certificate_is_verified", false, "connected with another CA");
        } catch (SQLException e) {
            check("server_certificate_is_verified", true, null);
            System.out.println("    refused as expected: " + e.getMessage().split("\n")[0]);
        }
        try (Connection c = connect(Paths.get(certs, "ca.pem").toString(), prep)) {
            check("x509_login_over_verified_tls", true, null);
            if (prep) {
                prepared(c);
            } else {
                text(c);
            }
        }
        System.exit(failed > 0 ? 1 : 0);
    }
}
