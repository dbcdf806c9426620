package dev.pgmemo.proxy.cache;

import dev.pgmemo.protocol.BackendMessage;
import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Everything about a session that can change a query's result or its text, read from the server itself
 * (so SET, SET ROLE, RESET, DISCARD and ALTER ROLE ... SET defaults are all followed exactly, never guessed).
 * It is part of every cache key: {@code keyBytes} is the SHA-256 of every setting that goes into the key.
 */
public record SessionContext(String database, String currentUser, String sessionUser, String searchPath,
                             String defaultIsolation, boolean hasTempSchema, byte[] keyBytes,
                             Map<String, String> custom, String transactionIsolation) {

    /** Settings that change results or their text; all go into the key. */
    private static final String[] SETTINGS = {
        "search_path", "TimeZone", "DateStyle", "IntervalStyle", "client_encoding", "extra_float_digits",
        "bytea_output", "standard_conforming_strings", "lc_monetary", "lc_numeric", "lc_time", "lc_messages",
        "default_transaction_isolation", "default_transaction_read_only", "row_security", "transform_null_equals",
        "array_nulls", "timezone_abbreviations", "xmlbinary", "xmloption", "default_text_search_config",
        "backslash_quote", "escape_string_warning", "session_replication_role", "quote_all_identifiers",
        "max_identifier_length", "server_version_num",
    };

    /**
     * Every other setting this session (its client, its role, its database) changed from the server's
     * configuration, as {@code name=value} lines: extension settings (pg_trgm.similarity_threshold, ...),
     * client_min_messages (which notices a result comes with) and whatever else may change a result, without a
     * list to keep up to date. Settings that cannot change a result's rows or messages are left out, so clients
     * that only name themselves differently still share entries.
     */
    private static final String CHANGED_SETTINGS = "(SELECT pg_catalog.string_agg(name || '=' || setting, E'\\n' ORDER BY name)"
            + " FROM pg_catalog.pg_settings WHERE source IN ('client', 'session', 'user', 'database', 'database user')"
            + " AND name NOT IN ('application_name', 'statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout',"
            + " 'idle_session_timeout', 'transaction_timeout', 'search_path', 'transaction_isolation',"
            + " 'transaction_read_only', 'transaction_deferrable') AND name NOT LIKE 'log%')";

    /**
     * The query that reads the context: one row. Column 0..3 are database, current_user, session_user and
     * whether the session has a temporary schema; then SETTINGS in order; then the other changed settings
     * ({@link #CHANGED_SETTINGS}); then the custom settings named
     * (PostgreSQL cannot list those: see {@link CustomSettings}), NULL where the session has none; last the
     * running transaction's isolation level.
     */
    public static String query(List<String> custom) {
        StringBuilder sb = new StringBuilder("SELECT current_database(), current_user, session_user, (pg_catalog.pg_my_temp_schema() <> 0)::text");
        for (String s : SETTINGS) {
            sb.append(", pg_catalog.current_setting('").append(s).append("')");
        }
        sb.append(", ").append(CHANGED_SETTINGS);
        for (String s : custom) {
            sb.append(", pg_catalog.current_setting(").append(Catalog.quoteLiteral(s)).append(", true)");
        }
        // Not part of the key: the running transaction's isolation level (the default when idle).
        sb.append(", pg_catalog.current_setting('transaction_isolation')");
        return sb.toString();
    }

    /** Builds the context from the DataRow of {@link #query(List)} asked with the same {@code custom} names. */
    public static SessionContext fromRow(ByteBuf dataRow, List<String> custom) {
        String[] cols = BackendMessage.dataRowText(dataRow);
        int fixed = 4 + SETTINGS.length + 1;
        if (cols.length != fixed + custom.size() + 1) {
            throw new IllegalStateException("unexpected context row with " + cols.length + " columns");
        }
        StringBuilder key = new StringBuilder();
        for (int i = 0; i < fixed; i++) {
            appendKeyPart(key, cols[i]);
        }
        Map<String, String> values = new TreeMap<>();
        for (int i = 0; i < custom.size(); i++) {
            values.put(custom.get(i), cols[fixed + i]);
        }
        String searchPath = cols[4];
        String isolation = cols[4 + 12];
        return new SessionContext(cols[0], cols[1], cols[2], searchPath, isolation, "true".equals(cols[3]),
                sha256(key.toString().getBytes(StandardCharsets.UTF_8)), Collections.unmodifiableMap(values),
                cols[cols.length - 1]);
    }

    /**
     * The context's part of every cache key is the SHA-256 of its settings (some 300 bytes), computed once
     * per context read: each key then hashes 32 bytes for it instead of all of them.
     */
    private static byte[] sha256(byte[] bytes) {
        try {
            return java.security.MessageDigest.getInstance("SHA-256").digest(bytes);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void appendKeyPart(StringBuilder key, String value) {
        key.append(value == null ? "\u0000N" : value.replace("\u0000", "")).append('\u0000');
    }

    /** Whether this context was read with every one of these custom settings. */
    public boolean hasCustom(Collection<String> names) {
        return custom.keySet().containsAll(names);
    }

    /**
     * The part of a cache key for the custom settings a query depends on: names and values, so results
     * computed under different values (or with the setting absent) never share a key. Empty for none.
     */
    public byte[] customKey(Collection<String> names) {
        if (names.isEmpty()) {
            return new byte[0];
        }
        StringBuilder key = new StringBuilder();
        for (String n : new TreeSet<>(names)) {
            if (!custom.containsKey(n)) {
                throw new IllegalStateException("custom setting " + n + " was not read");
            }
            appendKeyPart(key, n);
            appendKeyPart(key, custom.get(n));
        }
        return key.toString().getBytes(StandardCharsets.UTF_8);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SessionContext other && Arrays.equals(keyBytes, other.keyBytes) && custom.equals(other.custom);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(keyBytes) * 31 + custom.hashCode();
    }
}
