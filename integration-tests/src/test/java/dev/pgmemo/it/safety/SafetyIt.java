package dev.pgmemo.it.safety;

import java.sql.SQLException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;

/**
 * What every safety IT starts with: a database of its own (dropped after the class) and a pgmemo in front
 * of PostgreSQL (stopped after the class). Subclasses name the database and may add to the set-up in their
 * own {@code @BeforeAll}, which JUnit runs after this one.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class SafetyIt {
    protected TestDb db;
    protected Memo memo;

    /** A short name for the test database (TestDb makes it unique). */
    protected abstract String databaseName();

    @BeforeAll
    void startDatabaseAndPgmemo() throws SQLException {
        db = TestDb.create(databaseName());
        memo = Memo.start();
    }

    @AfterAll
    void stopPgmemoAndDropDatabase() throws SQLException {
        if (memo != null) {
            memo.close();
        }
        if (db != null) {
            db.close();
        }
    }
}
