package dev.pgmemo.it.safety;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Properties;
import java.util.concurrent.ThreadLocalRandom;

/** Connections and small query helpers shared by the safety tests. */
final class Sql {
    static final String PG_HOST = "127.0.0.1";
    static final int PG_PORT = 5432;
    static final String SUPERUSER = "postgres";

    private Sql() {
    }

    /** Eight random lower-case letters, for object names unique to one run. */
    static String suffix() {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 8; i++) {
            sb.append((char) ('a' + ThreadLocalRandom.current().nextInt(26)));
        }
        return sb.toString();
    }

    /** A connection to {@code port} (PostgreSQL itself or a pgmemo), as {@code user} (trust authentication). */
    static Connection connect(int port, String database, String user, Mode mode) throws SQLException {
        return connect(port, database, user, mode, new Properties());
    }

    /** As above, with extra pgjdbc connection properties (e.g. {@code options}). */
    static Connection connect(int port, String database, String user, Mode mode, Properties extra) throws SQLException {
        Properties props = new Properties();
        props.putAll(extra);
        props.setProperty("user", user);
        String url = "jdbc:postgresql://" + PG_HOST + ":" + port + "/" + database
                + "?connectTimeout=10&socketTimeout=60&tcpKeepAlive=true&" + mode.urlParams;
        return DriverManager.getConnection(url, props);
    }

    /** A connection straight to the shared PostgreSQL, bypassing pgmemo. */
    static Connection direct(String database, String user, Mode mode) throws SQLException {
        return connect(PG_PORT, database, user, mode);
    }

    static Connection direct(String database) throws SQLException {
        return direct(database, SUPERUSER, Mode.SIMPLE);
    }

    static void exec(Connection c, String... sql) throws SQLException {
        try (Statement s = c.createStatement()) {
            for (String q : sql) {
                s.execute(q);
            }
        }
    }

    /**
     * Every row of a query run as a {@link PreparedStatement} (so the mode decides the protocol), each row as
     * its columns' text joined with {@code |} (NULL as {@code <null>}).
     */
    static List<String> rows(Connection c, String sql, Object... params) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            for (int i = 0; i < params.length; i++) {
                ps.setObject(i + 1, params[i]);
            }
            try (ResultSet rs = ps.executeQuery()) {
                return rowsOf(rs);
            }
        }
    }

    static List<String> rowsOf(ResultSet rs) throws SQLException {
        List<String> out = new ArrayList<>();
        int n = rs.getMetaData().getColumnCount();
        while (rs.next()) {
            StringBuilder sb = new StringBuilder();
            for (int i = 1; i <= n; i++) {
                if (i > 1) {
                    sb.append('|');
                }
                String v = rs.getString(i);
                sb.append(v == null ? "<null>" : v);
            }
            out.add(sb.toString());
        }
        return out;
    }

    /**
     * The rows with each column as the exact bytes PostgreSQL sent (hex), prefixed by the column name and type:
     * for text-format results this is a byte-for-byte image of the DataRows.
     */
    static List<String> rawRows(Connection c, String sql) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql); ResultSet rs = ps.executeQuery()) {
            ResultSetMetaData md = rs.getMetaData();
            List<String> out = new ArrayList<>();
            StringBuilder head = new StringBuilder();
            for (int i = 1; i <= md.getColumnCount(); i++) {
                head.append(md.getColumnLabel(i)).append(':').append(md.getColumnTypeName(i)).append(' ');
            }
            out.add(head.toString().trim());
            while (rs.next()) {
                StringBuilder sb = new StringBuilder();
                for (int i = 1; i <= md.getColumnCount(); i++) {
                    if (i > 1) {
                        sb.append('|');
                    }
                    // getBytes decodes bytea; its text form is what the server sent.
                    String type = md.getColumnTypeName(i).toLowerCase(Locale.ROOT);
                    byte[] b = type.equals("bytea") ? bytesOrNull(rs.getString(i)) : rs.getBytes(i);
                    sb.append(b == null ? "<null>" : HexFormat.of().formatHex(b));
                }
                out.add(sb.toString());
            }
            return out;
        }
    }

    private static byte[] bytesOrNull(String s) {
        return s == null ? null : s.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    }

    static String one(Connection c, String sql, Object... params) throws SQLException {
        List<String> r = rows(c, sql, params);
        if (r.size() != 1) {
            throw new AssertionError("expected one row from " + sql + ", got " + r);
        }
        return r.get(0);
    }

    /** The SQLSTATE of the SQLException that running {@code sql} throws, or null if it succeeds. */
    static String sqlStateOf(Connection c, String sql) {
        try {
            rows(c, sql);
            return null;
        } catch (SQLException e) {
            return e.getSQLState();
        }
    }
}
