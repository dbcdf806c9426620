package dev.pgmemo.cache.analysis;

import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.function.Predicate;

/**
 * What pgmemo needs to know about one statement: its kind, whether its result may be cached,
 * which relations it reads and writes, and the session state it changes.
 *
 * @param fingerprint      normalized text (see {@link Fingerprint})
 * @param kind             statement kind
 * @param cacheable        true only for one SELECT/VALUES/TABLE statement that satisfies the cache
 *                         safety contract with what is known statically; see also
 *                         {@link #cacheableWhen(Predicate)}
 * @param reason           why it is not cacheable, {@link BypassReason#NONE} if it is
 * @param reads            every relation read (FROM, JOIN, subqueries anywhere, CTE bodies,
 *                         set operations, LATERAL); names defined by WITH are not relations.
 *                         Empty when unknown (unparseable statements are never cacheable)
 * @param writes           relations the statement writes (targets of INSERT, UPDATE, DELETE,
 *                         MERGE, TRUNCATE, COPY FROM, REFRESH, data-modifying CTEs, SELECT INTO,
 *                         and DDL targets where the lexer can name them)
 * @param writesUnknown    the statement may write relations not listed in {@code writes}, so the
 *                         proxy bumps the epoch: DO, CALL, EXECUTE, DDL, GRANT/REVOKE,
 *                         TRUNCATE ... CASCADE, COPY FROM ... WHERE, unparseable statements,
 *                         data-modifying CTEs, SELECT INTO, built-ins that write (lo_*, dblink*),
 *                         operators PostgreSQL does not define (their function may be VOLATILE),
 *                         and, except for a SELECT, any call of an unknown function. For a SELECT
 *                         the functions in {@code unknownFunctions} are left to the proxy, which
 *                         looks them up anyway: a VOLATILE one may write (see
 *                         {@link #mayWriteUnknown(Predicate)})
 * @param unknownFunctions lower-cased, possibly schema-qualified names of called functions that
 *                         are not in {@link Functions}' vetted lists; the proxy looks them up in
 *                         {@code pg_proc} (a name counts as IMMUTABLE only if every overload is)
 * @param callsSetConfig   the statement calls {@code set_config(...)}, or is DO, CALL or EXECUTE
 *                         (code pgmemo cannot see): the session's settings may have changed in
 *                         ways the proxy cannot track. A VOLATILE function in
 *                         {@code unknownFunctions} can call set_config too
 * @param settingName      SET/RESET/SHOW: lower-cased, possibly dotted setting name
 *                         ({@code timezone} for TIME ZONE, {@code search_path} for SCHEMA,
 *                         {@code client_encoding} for NAMES, {@code xmloption} for XML OPTION,
 *                         {@code role}, {@code session_authorization}, {@code all} for RESET ALL,
 *                         {@code transaction} for SET TRANSACTION, {@code session_characteristics}
 *                         for SET SESSION CHARACTERISTICS, {@code transaction_snapshot},
 *                         {@code constraints}); null for a SET the lexer could not read (treat the
 *                         session context as unknown). DISCARD: what is discarded ({@code all},
 *                         {@code plans}, {@code sequences}, {@code temp}). EXECUTE, DEALLOCATE:
 *                         the prepared statement's name; null for DEALLOCATE ALL
 * @param settingValue     SET: the value roughly as the server stores it (strings unquoted,
 *                         unquoted words lower-cased, list items joined with {@code ", "});
 *                         null for {@code DEFAULT} / {@code LOCAL} (the setting is reset)
 * @param local            {@code SET LOCAL}: lasts until the end of the transaction
 * @param isolationLevel   BEGIN / START TRANSACTION / SET TRANSACTION / SET SESSION
 *                         CHARACTERISTICS and SET of {@code [default_]transaction_isolation}: the
 *                         requested level in lower case ({@code "repeatable read"}), or null
 * @param readOnly         the same statements: READ ONLY was requested
 */
public record Analysis(
        String fingerprint,
        Kind kind,
        boolean cacheable,
        BypassReason reason,
        Set<TableName> reads,
        Set<TableName> writes,
        boolean writesUnknown,
        Set<String> unknownFunctions,
        boolean callsSetConfig,
        String settingName,
        String settingValue,
        boolean local,
        String isolationLevel,
        boolean readOnly) {

    /** Statement kinds pgmemo distinguishes. */
    public enum Kind {
        SELECT, INSERT, UPDATE, DELETE, MERGE, TRUNCATE, COPY_FROM, COPY_TO, DDL, REFRESH_MATVIEW,
        /** BEGIN, START TRANSACTION. */
        BEGIN,
        /** COMMIT, END (also with AND CHAIN). */
        COMMIT,
        /** ROLLBACK, ABORT (not ROLLBACK TO SAVEPOINT). */
        ROLLBACK,
        /** SAVEPOINT, RELEASE [SAVEPOINT], ROLLBACK TO [SAVEPOINT]: these do not end the transaction. */
        SAVEPOINT,
        SET, RESET, SHOW, DISCARD, CALL, DO,
        /** LISTEN, UNLISTEN, NOTIFY. */
        LISTEN_NOTIFY,
        /** SQL-level PREPARE (of a statement; PREPARE TRANSACTION is OTHER): changes no data. */
        PREPARE,
        /** SQL-level EXECUTE: runs a prepared statement, which may write anything. */
        EXECUTE,
        /** SQL-level DEALLOCATE; it also drops protocol-level named statements (one namespace). */
        DEALLOCATE,
        EXPLAIN, LOCK, VACUUM_ANALYZE, GRANT_REVOKE,
        /** Anything else pgmemo recognises but does not act on (CHECKPOINT, FETCH, two-phase commit...). */
        OTHER,
        /** Neither JSqlParser nor the lexer could classify it. */
        UNPARSEABLE,
        /** Nothing but whitespace, comments and semicolons: the server answers EmptyQueryResponse. */
        EMPTY
    }

    /** Why a statement bypasses the cache. */
    public enum BypassReason {
        NONE,
        /** Not a SELECT (or VALUES/TABLE). */
        NOT_SELECT,
        /** JSqlParser rejected it. */
        PARSE_ERROR,
        /** JSqlParser accepted it but built a node the analyzer has not vetted (e.g. JSON_OBJECT()). */
        UNSUPPORTED_SYNTAX,
        /**
         * Calls a STABLE or VOLATILE function, incl. keyword forms such as CURRENT_USER, uses
         * TABLESAMPLE, a datetime literal that reads the clock ({@code 'now'}, {@code 'today'},
         * also escaped: {@code E'\x6eow'}), a conversion to a date/time type of anything but a
         * literal or parameter ({@code reverse('won')::timestamptz}) or to time with time zone at
         * all, or an operator PostgreSQL does not define ({@code 1 ### 2}: its function is unknown).
         */
        VOLATILE_FUNCTION,
        /** Only obstacle: functions in {@code unknownFunctions} whose volatility the proxy must look up. */
        UNVERIFIED_FUNCTION,
        /** FOR UPDATE / NO KEY UPDATE / SHARE / KEY SHARE. */
        LOCKING_CLAUSE,
        /** SELECT ... INTO creates a table. */
        SELECT_INTO,
        /** WITH ... AS (INSERT/UPDATE/DELETE/MERGE ...). */
        MODIFYING_CTE,
        /** Reads pg_catalog, information_schema or another pg_* relation. */
        SYSTEM_CATALOG,
        /** More than one statement in one simple-query string. */
        MULTI_STATEMENT
    }

    public Analysis {
        reads = Set.copyOf(reads);
        writes = Set.copyOf(writes);
        unknownFunctions = Set.copyOf(unknownFunctions);
    }

    /**
     * True if this statement may be cached given the volatility of its unknown functions: either
     * it is {@link #cacheable()}, or the only obstacle is {@link BypassReason#UNVERIFIED_FUNCTION}
     * and every name in {@link #unknownFunctions()} is IMMUTABLE. In that case
     * {@link #writesUnknown()} can be ignored too: IMMUTABLE functions cannot write.
     */
    public boolean cacheableWhen(Predicate<String> isImmutable) {
        if (cacheable) {
            return true;
        }
        return reason == BypassReason.UNVERIFIED_FUNCTION && unknownFunctions.stream().allMatch(isImmutable);
    }

    /**
     * True if the statement may write relations it does not name, once the proxy knows which of
     * {@link #unknownFunctions()} are VOLATILE (only those can modify data).
     */
    public boolean mayWriteUnknown(Predicate<String> isVolatile) {
        return writesUnknown || (kind == Kind.SELECT && unknownFunctions.stream().anyMatch(isVolatile));
    }

    /** True for COMMIT and ROLLBACK (not savepoint commands): the transaction ends. */
    public boolean endsTransaction() {
        return kind == Kind.COMMIT || kind == Kind.ROLLBACK;
    }

    static Builder builder(String fingerprint, Kind kind) {
        return new Builder(fingerprint, kind);
    }

    /** Mutable collector used by the analyzers of this package. */
    static final class Builder {
        String fingerprint;
        Kind kind;
        BypassReason reason;
        final Set<TableName> reads = new LinkedHashSet<>();
        final Set<TableName> writes = new LinkedHashSet<>();
        boolean writesUnknown;
        final Set<String> unknownFunctions = new LinkedHashSet<>();
        boolean callsSetConfig;
        String settingName;
        String settingValue;
        boolean local;
        String isolationLevel;
        boolean readOnly;

        private Builder(String fingerprint, Kind kind) {
            this.fingerprint = fingerprint;
            this.kind = kind;
            this.reason = kind == Kind.UNPARSEABLE ? BypassReason.PARSE_ERROR : BypassReason.NOT_SELECT;
            this.writesUnknown = kind == Kind.UNPARSEABLE;
        }

        Builder reason(BypassReason r) {
            this.reason = r;
            return this;
        }

        Builder writesUnknown() {
            this.writesUnknown = true;
            return this;
        }

        Builder reads(Collection<TableName> tables) {
            reads.addAll(tables);
            return this;
        }

        Builder writes(Collection<TableName> tables) {
            writes.addAll(tables);
            return this;
        }

        Builder setting(String name, String value) {
            this.settingName = name;
            this.settingValue = value;
            return this;
        }

        /** Carries reads, writes and function facts of an inner statement (EXPLAIN ANALYZE, COPY (query)). */
        Builder absorbEffects(Analysis inner, boolean executes) {
            reads.addAll(inner.reads());
            if (executes) {
                writes.addAll(inner.writes());
                unknownFunctions.addAll(inner.unknownFunctions());
                // the outer statement is not a SELECT: its unknown functions count as possible writes
                writesUnknown |= inner.writesUnknown() || !inner.unknownFunctions().isEmpty();
                callsSetConfig |= inner.callsSetConfig();
            }
            return this;
        }

        Analysis build() {
            boolean cacheable = reason == BypassReason.NONE;
            return new Analysis(fingerprint, kind, cacheable, reason, reads, writes, writesUnknown,
                    unknownFunctions, callsSetConfig, settingName, settingValue, local, isolationLevel,
                    readOnly);
        }
    }
}
