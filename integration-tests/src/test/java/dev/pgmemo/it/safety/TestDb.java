package dev.pgmemo.it.safety;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;

/**
 * A database of its own for one test class (and the login roles it creates), on the shared PostgreSQL. Its
 * own database also gives it its own database epoch in the shared Redis, so DDL run by other tests in other
 * databases cannot turn this class's expected cache hits into misses. {@link #close} drops exactly what it
 * created.
 */
final class TestDb implements AutoCloseable {
    final String name;
    final String suffix;
    private final List<String> roles = new ArrayList<>();
    private final List<String> extraDatabases = new ArrayList<>();

    private TestDb(String name, String suffix) {
        this.name = name;
        this.suffix = suffix;
    }

    static TestDb create(String purpose) throws SQLException {
        String suffix = Sql.suffix();
        TestDb db = new TestDb("safety_" + purpose + "_" + suffix, suffix);
        try (Connection c = Sql.direct("test")) {
            Sql.exec(c, "CREATE DATABASE " + db.name);
        }
        return db;
    }

    /** Another database, dropped with this one. */
    String createDatabase(String purpose) throws SQLException {
        String n = "safety_" + purpose + "_" + suffix;
        try (Connection c = Sql.direct("test")) {
            Sql.exec(c, "CREATE DATABASE " + n);
        }
        extraDatabases.add(n);
        return n;
    }

    /** A non-superuser login role named after {@code base}, dropped by {@link #close}. */
    String role(String base) throws SQLException {
        String r = "safety_" + suffix + "_" + base;
        try (Connection c = Sql.direct("test")) {
            Sql.exec(c, "CREATE ROLE " + r + " LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS");
        }
        roles.add(r);
        return r;
    }

    Connection direct() throws SQLException {
        return Sql.direct(name);
    }

    /** Runs statements as the superuser on a fresh direct connection. */
    void exec(String... sql) throws SQLException {
        try (Connection c = direct()) {
            Sql.exec(c, sql);
        }
    }

    @Override
    public void close() throws SQLException {
        try (Connection c = Sql.direct("test")) {
            for (String d : extraDatabases) {
                Sql.exec(c, "DROP DATABASE IF EXISTS " + d + " WITH (FORCE)");
            }
            Sql.exec(c, "DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
            for (String r : roles) {
                Sql.exec(c, "DROP ROLE IF EXISTS " + r);
            }
        }
    }
}
