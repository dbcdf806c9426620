package dev.pgmemo.proxy.cache;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.pgmemo.cache.analysis.Analysis;
import dev.pgmemo.cache.analysis.QueryAnalyzer;
import dev.pgmemo.protocol.BackendMessage;
import io.netty.buffer.ByteBuf;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What pgmemo knows about relations and functions, read from PostgreSQL's catalogs through the session's
 * own upstream connection (so it sees exactly what that user sees) and remembered per database, search_path
 * and current user until DDL passes through pgmemo (or {@code maxAge} passes, for DDL made elsewhere).
 */
public final class Catalog {

    /**
     * A relation name as resolved under one search_path.
     *
     * @param qualifiedName schema.name of the relation itself (for rule matching), null when missing
     * @param tokenNames    relation names whose version tokens guard a read of it: itself, views' base
     *                      relations, partition ancestors and descendants, and the relations its (or their)
     *                      row-level security policies read
     * @param writeNames    relation names a write to it changes: the same without the policies' relations
     * @param bypass        why a query reading it cannot be cached (temporary, catalog, foreign, sequence,
     *                      view calling a non-immutable function, missing), or null
     * @param cascadeNames  relations a write to it can change through foreign keys (recursively)
     * @param userTriggers  whether a write to it may change relations no catalog fact names, so that it must
     *                      invalidate the whole database: it fires user triggers or rules (other than a view's
     *                      {@code _RETURN} rule), on it or on a table its foreign keys' actions write; it
     *                      evaluates a default, generated column, constraint, policy, index or domain expression
     *                      that calls a function outside pg_catalog; or it is missing (the catalog could not find
     *                      the name the analyzer gave, so what the statement really wrote is unknown)
     * @param settings      custom settings (app.tenant, ...) its policies or views read: part of the key
     * @param foreignWrite  whether a write to it reaches a foreign table, whose data may live in any database,
     *                      including another one behind the same store: such a write must bump the global epoch
     */
    public record Relation(String qualifiedName, List<String> tokenNames, List<String> writeNames, String bypass,
                           List<String> cascadeNames, boolean userTriggers, List<String> settings,
                           boolean foreignWrite) {
    }

    /** Function volatility, as in pg_proc.provolatile; MISSING when no function has that name. */
    public enum Volatility { IMMUTABLE, STABLE, VOLATILE, MISSING }

    private final Cache<String, Relation> relations;
    private final Cache<String, Volatility> functions;

    private final QueryAnalyzer analyzer;
    private final CustomSettings customSettings;

    public Catalog(Duration maxAge, QueryAnalyzer analyzer, CustomSettings customSettings) {
        this.analyzer = analyzer;
        this.customSettings = customSettings;
        relations = Caffeine.newBuilder().maximumSize(100_000).expireAfterWrite(maxAge).executor(Runnable::run).build();
        functions = Caffeine.newBuilder().maximumSize(100_000).expireAfterWrite(maxAge).executor(Runnable::run).build();
    }

    /** Key of a relation or function name in its memo: the database and what name resolution depends on. */
    private static String scopedKey(SessionContext ctx, String name) {
        return ctx.database() + '\u0000' + resolutionScope(ctx) + '\u0000' + name;
    }

    /**
     * What name resolution and visibility depend on: the search_path text and the current user (the role
     * whose privileges apply). {@code "$user"} resolves to each user's own schema, a schema on the path the
     * role has no USAGE on is skipped, and to_regclass finds nothing the role cannot see; so two roles may
     * resolve the same name under the same path text to different relations. Role memberships, which also
     * decide privileges, change only through GRANT/REVOKE/DDL, after which the database is forgotten.
     */
    private static String resolutionScope(SessionContext ctx) {
        return ctx.searchPath() + '\u0000' + ctx.currentUser();
    }

    /**
     * Whether a name can be remembered under this context. A session with a temporary schema resolves an
     * unqualified name (or one in pg_temp) to its own temporary relations first, which no other session shares
     * and which vanish without DDL passing through pgmemo (DISCARD TEMP, the end of the backend, whose temporary
     * schema a later session inherits): such names are never remembered, so a write to them invalidates the
     * database. (Reads in such sessions never use the cache.)
     */
    static boolean rememberable(SessionContext ctx, String key) {
        if (!ctx.hasTempSchema()) {
            return true;
        }
        int sep = key.indexOf('\u0000');
        return sep >= 0 && !key.substring(0, sep).startsWith("pg_temp");
    }

    /** What is remembered about a relation under this context; {@code key} is a {@link Name#key()}. */
    public Relation relation(SessionContext ctx, String key) {
        return rememberable(ctx, key) ? relations.getIfPresent(scopedKey(ctx, key)) : null;
    }

    public Volatility function(SessionContext ctx, String name) {
        return functions.getIfPresent(scopedKey(ctx, name));
    }

    private final java.util.concurrent.ConcurrentHashMap<String, byte[]> epochs = new java.util.concurrent.ConcurrentHashMap<>();
    private final java.util.concurrent.ConcurrentHashMap<String, java.util.concurrent.atomic.AtomicLong> generations =
            new java.util.concurrent.ConcurrentHashMap<>();

    /**
     * Records the database epoch token seen in the store (with every lookup, and before a write's
     * invalidation). When it differs from the one seen before (or none was seen yet), DDL (or an unknown write)
     * committed through some pgmemo, maybe another instance: forget what is known about the database, since
     * triggers, views, policies or functions may have changed. Returns true in that case: a decision made with
     * what was known must not be used (its lookup is neither served nor stored).
     */
    public boolean observeEpoch(String database, byte[] token) {
        byte[] previous = epochs.get(database);
        if (previous != null && java.util.Arrays.equals(previous, token)) {
            return false;
        }
        // Also on the first observation: what was learned before it cannot be dated. Forget first (which moves the
        // generation, so decisions made before see it), then publish the new epoch.
        invalidateDatabase(database);
        epochs.put(database, token.clone());
        return true;
    }

    /**
     * Changes whenever what is known about a database is forgotten: a catalog query remembers its answers only
     * if the generation it started in is still current (else they may describe the catalog before a change).
     */
    public long generation(String database) {
        java.util.concurrent.atomic.AtomicLong g = generations.get(database);
        return g == null ? 0 : g.get();
    }

    /** Forgets everything known about a database (after DDL in it). */
    public void invalidateDatabase(String database) {
        generations.computeIfAbsent(database, d -> new java.util.concurrent.atomic.AtomicLong()).incrementAndGet();
        String prefix = database + '\u0000';
        relations.asMap().keySet().removeIf(k -> k.startsWith(prefix));
        functions.asMap().keySet().removeIf(k -> k.startsWith(prefix));
    }

    public void invalidateAll() {
        relations.invalidateAll();
        functions.invalidateAll();
    }

    /**
     * Relation names are passed as SQL identifiers exactly as the analyzer produced them: a list of
     * already-normalized parts (schema may be null). They are quoted here, so no name can inject SQL.
     */
    public record Name(String schema, String name) {
        public String regclassText() {
            return schema == null ? quoteIdent(name) : quoteIdent(schema) + "." + quoteIdent(name);
        }

        /**
         * The name's key in the memo. Schema and name are separated by a character no identifier contains, so
         * that {@code "a.b"} (one unqualified name) and {@code a.b} are different keys.
         */
        public String key() {
            return schema == null ? name : schema + '\u0000' + name;
        }
    }

    /** SQL returning one row per requested relation: index, then the columns {@link #rememberRelation} reads. */
    public static String relationsQuery(List<Name> names) {
        StringBuilder values = new StringBuilder();
        for (int i = 0; i < names.size(); i++) {
            if (i > 0) {
                values.append(", ");
            }
            values.append('(').append(i).append(", ").append(quoteLiteral(names.get(i).regclassText())).append(')');
        }
        // deps: the relation, the base relations of views (recursively), partition ancestors and descendants,
        // and (flagged pol) the relations that row-level security policies of any of those read in subqueries:
        // a read depends on all of them, a write only changes the unflagged ones.
        return "WITH RECURSIVE req(i, qname) AS (VALUES " + values + "),"
                + " base AS (SELECT req.i, pg_catalog.to_regclass(req.qname)::oid AS oid FROM req),"
                + " deps(i, oid, pol) AS ("
                + "  SELECT base.i, base.oid, false FROM base WHERE base.oid IS NOT NULL"
                + "  UNION"
                + "  SELECT d.i, x.oid, d.pol OR x.pol FROM deps d CROSS JOIN LATERAL ("
                + "    SELECT dep.refobjid AS oid, false AS pol FROM pg_catalog.pg_rewrite rw"
                + "      JOIN pg_catalog.pg_depend dep ON dep.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass"
                + "       AND dep.objid = rw.oid AND dep.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass"
                + "      JOIN pg_catalog.pg_class vc ON vc.oid = rw.ev_class AND vc.relkind = 'v'"
                + "     WHERE rw.ev_class = d.oid AND dep.refobjid <> d.oid"
                + "    UNION SELECT inh.inhrelid, false FROM pg_catalog.pg_inherits inh WHERE inh.inhparent = d.oid"
                + "    UNION SELECT inh.inhparent, false FROM pg_catalog.pg_inherits inh WHERE inh.inhrelid = d.oid"
                + "    UNION SELECT dep.refobjid, true FROM pg_catalog.pg_policy p"
                + "      JOIN pg_catalog.pg_depend dep ON dep.classid = 'pg_catalog.pg_policy'::pg_catalog.regclass"
                + "       AND dep.objid = p.oid AND dep.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass"
                + "     WHERE p.polrelid = d.oid AND dep.refobjid <> d.oid"
                + "  ) x),"
                + " fk(i, oid) AS ("
                + "  SELECT deps.i, deps.oid FROM deps WHERE NOT deps.pol"
                + "  UNION"
                + "  SELECT f.i, con.conrelid FROM fk f JOIN pg_catalog.pg_constraint con"
                + "    ON con.contype = 'f' AND con.confrelid = f.oid AND con.conrelid <> f.oid),"
                // What a write's own execution runs: the written relations (with their partitions and views'
                // bases) and the tables its foreign keys' actions write (ON DELETE/UPDATE CASCADE, SET NULL, SET
                // DEFAULT), recursively. Their triggers, rules and user functions may write anywhere.
                + " fired(i, oid) AS ("
                + "  SELECT deps.i, deps.oid FROM deps WHERE NOT deps.pol"
                + "  UNION"
                + "  SELECT f.i, con.conrelid FROM fired f JOIN pg_catalog.pg_constraint con"
                + "    ON con.contype = 'f' AND con.confrelid = f.oid"
                + "   AND (con.confdeltype IN ('c', 'n', 'd') OR con.confupdtype IN ('c', 'n', 'd'))),"
                // Domains of their columns (and the domains those are over), whose defaults and checks run too.
                + " domains(i, typ) AS ("
                + "  SELECT f.i, t.oid FROM fired f JOIN pg_catalog.pg_attribute a ON a.attrelid = f.oid AND a.attnum > 0"
                + "    AND NOT a.attisdropped JOIN pg_catalog.pg_type t ON t.oid = a.atttypid AND t.typtype = 'd'"
                + "  UNION"
                + "  SELECT d.i, t.oid FROM domains d JOIN pg_catalog.pg_type dt ON dt.oid = d.typ"
                + "    JOIN pg_catalog.pg_type t ON t.oid = dt.typbasetype AND t.typtype = 'd'),"
                // Expressions a write evaluates: column defaults and generated columns, check (and other)
                // constraints, policies, index expressions and predicates, domain defaults and checks.
                + " fired_exprs(i, classid, objid) AS ("
                + "  SELECT f.i, 'pg_catalog.pg_attrdef'::pg_catalog.regclass, ad.oid FROM fired f"
                + "    JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = f.oid"
                + "  UNION ALL SELECT f.i, 'pg_catalog.pg_constraint'::pg_catalog.regclass, con.oid FROM fired f"
                + "    JOIN pg_catalog.pg_constraint con ON con.conrelid = f.oid"
                + "  UNION ALL SELECT f.i, 'pg_catalog.pg_policy'::pg_catalog.regclass, pol.oid FROM fired f"
                + "    JOIN pg_catalog.pg_policy pol ON pol.polrelid = f.oid"
                + "  UNION ALL SELECT f.i, 'pg_catalog.pg_class'::pg_catalog.regclass, ix.indexrelid FROM fired f"
                + "    JOIN pg_catalog.pg_index ix ON ix.indrelid = f.oid"
                + "  UNION ALL SELECT d.i, 'pg_catalog.pg_type'::pg_catalog.regclass, d.typ FROM domains d"
                + "  UNION ALL SELECT d.i, 'pg_catalog.pg_constraint'::pg_catalog.regclass, con.oid FROM domains d"
                + "    JOIN pg_catalog.pg_constraint con ON con.contypid = d.typ),"
                // Any function outside pg_catalog called there may write (whatever its declared volatility):
                // built-ins are pinned and have no pg_depend rows, user and extension functions do.
                + " user_fn_writers AS ("
                + "  SELECT DISTINCT e.i FROM fired_exprs e JOIN pg_catalog.pg_depend dep ON dep.classid = e.classid"
                + "    AND dep.objid = e.objid AND dep.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass"
                + "   JOIN pg_catalog.pg_proc p ON p.oid = dep.refobjid"
                + "    AND p.pronamespace <> 'pg_catalog'::pg_catalog.regnamespace),"
                + " volatile_views AS ("
                + "  SELECT DISTINCT d.i FROM deps d JOIN pg_catalog.pg_class c ON c.oid = d.oid AND c.relkind = 'v'"
                + "   JOIN pg_catalog.pg_rewrite rw ON rw.ev_class = c.oid"
                + "   JOIN pg_catalog.pg_depend dep ON dep.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND dep.objid = rw.oid"
                + "    AND dep.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass"
                + "   JOIN pg_catalog.pg_proc p ON p.oid = dep.refobjid AND p.provolatile <> 'i'),"
                // User functions called by policies; built-in ones are pinned (no pg_depend row) and are found
                // by pgmemo in the policy text (last column).
                + " volatile_policies AS ("
                + "  SELECT DISTINCT d.i FROM deps d JOIN pg_catalog.pg_policy pol ON pol.polrelid = d.oid"
                + "   JOIN pg_catalog.pg_depend dep ON dep.classid = 'pg_catalog.pg_policy'::pg_catalog.regclass AND dep.objid = pol.oid"
                + "    AND dep.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass"
                + "   JOIN pg_catalog.pg_proc p ON p.oid = dep.refobjid AND p.provolatile <> 'i')"
                + " SELECT b.i,"
                + "  (SELECT n.nspname || '.' || c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = b.oid),"
                + "  (SELECT pg_catalog.string_agg(DISTINCT c.relname, E'\\n') FROM deps d JOIN pg_catalog.pg_class c ON c.oid = d.oid WHERE d.i = b.i),"
                + "  CASE WHEN b.oid IS NULL THEN 'missing'"
                + "   WHEN EXISTS (SELECT 1 FROM deps d JOIN pg_catalog.pg_class c ON c.oid = d.oid WHERE d.i = b.i AND c.relpersistence = 't') THEN 'temp_table'"
                + "   WHEN EXISTS (SELECT 1 FROM deps d JOIN pg_catalog.pg_class c ON c.oid = d.oid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                + "     WHERE d.i = b.i AND (n.nspname IN ('pg_catalog', 'information_schema') OR n.nspname LIKE 'pg\\_toast%')) THEN 'system_catalog'"
                + "   WHEN EXISTS (SELECT 1 FROM deps d JOIN pg_catalog.pg_class c ON c.oid = d.oid WHERE d.i = b.i AND c.relkind = 'f') THEN 'foreign_table'"
                + "   WHEN EXISTS (SELECT 1 FROM deps d JOIN pg_catalog.pg_class c ON c.oid = d.oid WHERE d.i = b.i AND c.relkind = 'S') THEN 'sequence'"
                + "   WHEN EXISTS (SELECT 1 FROM volatile_views v WHERE v.i = b.i) THEN 'volatile'"
                + "   WHEN EXISTS (SELECT 1 FROM volatile_policies v WHERE v.i = b.i) THEN 'volatile'"
                + "   ELSE '' END,"
                + "  (SELECT pg_catalog.string_agg(DISTINCT c.relname, E'\\n') FROM fk f JOIN pg_catalog.pg_class c ON c.oid = f.oid WHERE f.i = b.i),"
                // Whether a write may change relations pgmemo cannot name: one it cannot find at all, user triggers
                // and rules (other than a view's _RETURN rule) on anything the write fires, user functions in the
                // expressions it evaluates.
                + "  (b.oid IS NULL"
                + "   OR EXISTS (SELECT 1 FROM fired f JOIN pg_catalog.pg_trigger t ON t.tgrelid = f.oid WHERE f.i = b.i AND NOT t.tgisinternal)"
                + "   OR EXISTS (SELECT 1 FROM fired f JOIN pg_catalog.pg_rewrite rw ON rw.ev_class = f.oid WHERE f.i = b.i AND rw.rulename <> '_RETURN')"
                + "   OR EXISTS (SELECT 1 FROM user_fn_writers u WHERE u.i = b.i))::text,"
                // View definitions and policy expressions, checked by pgmemo's analyzer: built-in functions such
                // as now() or current_setting() are pinned and have no pg_depend row, so only the text shows them.
                + "  (SELECT pg_catalog.string_agg(pg_catalog.pg_get_viewdef(c.oid), E'\\n;;\\n') FROM deps d JOIN pg_catalog.pg_class c"
                + "    ON c.oid = d.oid AND c.relkind = 'v' WHERE d.i = b.i),"
                + "  (SELECT pg_catalog.string_agg(pg_catalog.pg_get_expr(p.polqual, p.polrelid), E'\\n;;\\n') FROM deps d"
                + "    JOIN pg_catalog.pg_policy p ON p.polrelid = d.oid WHERE d.i = b.i AND p.polqual IS NOT NULL),"
                + "  (SELECT pg_catalog.string_agg(DISTINCT c.relname, E'\\n') FROM deps d JOIN pg_catalog.pg_class c ON c.oid = d.oid WHERE d.i = b.i AND NOT d.pol),"
                // Whether a write reaches a foreign table, whose data may live in any database, this one included.
                + "  EXISTS (SELECT 1 FROM fired f JOIN pg_catalog.pg_class c ON c.oid = f.oid WHERE f.i = b.i AND c.relkind = 'f')::text"
                + " FROM base b ORDER BY b.i";
    }

    /** SQL returning one row per requested function: index, then 1/2/3 for immutable/stable/volatile or NULL. */
    public static String functionsQuery(List<Name> names) {
        StringBuilder values = new StringBuilder();
        for (int i = 0; i < names.size(); i++) {
            if (i > 0) {
                values.append(", ");
            }
            Name n = names.get(i);
            values.append('(').append(i).append(", ").append(quoteLiteral(n.name())).append(", ")
                    .append(n.schema() == null ? "NULL::text" : quoteLiteral(n.schema())).append(')');
        }
        // provolatile alone is not what a call does: an aggregate's is always 'i', whatever its support functions
        // (which run on every call) are; a parameter default (DEFAULT clock_timestamp()) is evaluated in the
        // caller's query and may be anything, so a function outside pg_catalog with defaults counts as volatile.
        return "SELECT f.i, (SELECT pg_catalog.max(GREATEST("
                + "  " + volatilityRank("p.provolatile") + ","
                + "  CASE WHEN p.pronargdefaults > 0 AND n.nspname <> 'pg_catalog' THEN 3 ELSE 1 END,"
                + "  CASE WHEN p.prokind = 'a' THEN (SELECT pg_catalog.max(" + volatilityRank("sp.provolatile") + ")"
                + "    FROM pg_catalog.pg_aggregate a JOIN pg_catalog.pg_proc sp ON sp.oid IN (a.aggtransfn::oid,"
                + "     a.aggfinalfn::oid, a.aggcombinefn::oid, a.aggserialfn::oid, a.aggdeserialfn::oid,"
                + "     a.aggmtransfn::oid, a.aggminvtransfn::oid, a.aggmfinalfn::oid)"
                + "    WHERE a.aggfnoid = p.oid) ELSE 1 END))"
                + " FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace"
                + " WHERE p.proname = f.fname AND (f.fschema IS NULL OR n.nspname = f.fschema))"
                + " FROM (VALUES " + values + ") f(i, fname, fschema) ORDER BY f.i";
    }

    /** 1, 2, 3 for immutable, stable, volatile: the order in which volatilities combine (the greatest wins). */
    private static String volatilityRank(String provolatile) {
        return "CASE " + provolatile + " WHEN 'i' THEN 1 WHEN 's' THEN 2 ELSE 3 END";
    }

    /** Remembers the answer row of {@link #relationsQuery} for {@code names.get(i)}. */
    public Relation rememberRelation(SessionContext ctx, List<Name> names, ByteBuf dataRow) {
        String[] c = BackendMessage.dataRowText(dataRow);
        int i = Integer.parseInt(c[0]);
        String bypass = c[3] == null || c[3].isEmpty() ? null : c[3];
        List<String> settings = List.of();
        if (bypass == null) {
            TreeSet<String> read = new TreeSet<>();
            if (!readsOnlySessionState(c[6], false, read) || !readsOnlySessionState(c[7], true, read)) {
                bypass = "volatile";
            } else if (!read.isEmpty()) {
                if (customSettings.register(read)) {
                    settings = List.copyOf(read);
                } else {
                    bypass = "custom_settings";
                }
            }
        }
        // A missing target writes something pgmemo cannot name (the query says so too; this does not rely on it).
        boolean writesAnywhere = "true".equals(c[5]) || "missing".equals(bypass);
        Relation r = new Relation(c[1], lines(c[2]), lines(c[8]), bypass, lines(c[4]), writesAnywhere, settings,
                "true".equals(c[9]));
        if (rememberable(ctx, names.get(i).key())) {
            relations.put(scopedKey(ctx, names.get(i).key()), r);
        }
        return r;
    }

    /** Remembers the answer row of {@link #functionsQuery} for {@code names.get(i)}. */
    public Volatility rememberFunction(SessionContext ctx, List<Name> names, ByteBuf dataRow) {
        String[] c = BackendMessage.dataRowText(dataRow);
        int i = Integer.parseInt(c[0]);
        Volatility v = c[1] == null ? Volatility.MISSING
                : switch (c[1]) {
                    case "1" -> Volatility.IMMUTABLE;
                    case "2" -> Volatility.STABLE;
                    default -> Volatility.VOLATILE;
                };
        functions.put(scopedKey(ctx, names.get(i).key()), v);
        return v;
    }

    /** {@code current_setting('name'::text)} or {@code current_setting('name'::text, true)} as PostgreSQL deparses it. */
    private static final Pattern CURRENT_SETTING = Pattern.compile(
            "(?i)(?:pg_catalog\\.)?current_setting\\('((?:[^']|'')*)'::text(?:,\\s*(?:true|false))?\\)");
    /** Keyword functions whose value is part of every cache key (current_user, session_user are). */
    private static final Pattern SESSION_USER = Pattern.compile("(?i)\\b(?:current_user|session_user|current_role)\\b");

    /**
     * Whether view definitions ({@code expressions} false: whole SELECTs) or policy expressions (true),
     * separated by a line ";;", call nothing but IMMUTABLE functions, the current user, and
     * {@code current_setting} of literal names, which are added to {@code settings}. Those two are part of the
     * cache key; anything else (now(), current_setting(variable), a system catalog, a parse failure) is not.
     * User functions are also checked against pg_depend in SQL; this catches the built-ins, which have no
     * pg_depend rows.
     */
    boolean readsOnlySessionState(String definitions, boolean expressions, Set<String> settings) {
        if (definitions == null || definitions.isEmpty()) {
            return true;
        }
        for (String def : definitions.split("\n;;\n")) {
            String body = def.strip();
            if (body.endsWith(";")) {
                body = body.substring(0, body.length() - 1);
            }
            Matcher m = CURRENT_SETTING.matcher(body);
            StringBuilder rest = new StringBuilder();
            while (m.find()) {
                settings.add(CustomSettings.normalize(m.group(1).replace("''", "'")));
                m.appendReplacement(rest, "'s'::text");
            }
            m.appendTail(rest);
            String sql = SESSION_USER.matcher(rest).replaceAll("'u'::name");
            Analysis a = analyzer.analyze(expressions ? "SELECT 1 WHERE " + sql : sql);
            if (a.kind() != Analysis.Kind.SELECT) {
                return false;
            }
            // System catalogs count too: pinned ones (pg_class, ...) have no pg_depend row either.
            if (!a.cacheable() && a.reason() != Analysis.BypassReason.UNVERIFIED_FUNCTION) {
                return false;
            }
        }
        return true;
    }

    private static List<String> lines(String s) {
        if (s == null || s.isEmpty()) {
            return List.of();
        }
        return List.copyOf(Arrays.asList(s.split("\n")));
    }

    static String quoteIdent(String s) {
        return '"' + s.replace("\"", "\"\"") + '"';
    }

    static String quoteLiteral(String s) {
        return "'" + s.replace("'", "''") + "'";
    }

    /**
     * Names among {@code wanted} not yet known under this context, leaving out those it cannot remember
     * (see {@link #rememberable}): asking about them would teach nothing, and a write to them invalidates
     * the database anyway.
     */
    public List<Name> unknownRelations(SessionContext ctx, Collection<Name> wanted) {
        List<Name> out = new ArrayList<>();
        for (Name n : wanted) {
            if (rememberable(ctx, n.key()) && relation(ctx, n.key()) == null && !out.contains(n)) {
                out.add(n);
            }
        }
        return out;
    }

    public List<Name> unknownFunctions(SessionContext ctx, Collection<Name> wanted) {
        List<Name> out = new ArrayList<>();
        for (Name n : wanted) {
            if (function(ctx, n.key()) == null && !out.contains(n)) {
                out.add(n);
            }
        }
        return out;
    }
}
