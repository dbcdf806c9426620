package dev.pgmemo.cache.analysis;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.pgmemo.cache.analysis.Analysis.BypassReason;
import dev.pgmemo.cache.analysis.Analysis.Kind;
import dev.pgmemo.cache.analysis.SqlLexer.Token;
import dev.pgmemo.cache.analysis.SqlLexer.TokenType;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.LongAdder;
import net.sf.jsqlparser.parser.CCJSqlParser;
import net.sf.jsqlparser.parser.CCJSqlParserConstants;
import net.sf.jsqlparser.parser.ParseException;
import net.sf.jsqlparser.parser.StringProvider;
import net.sf.jsqlparser.statement.Statement;
import net.sf.jsqlparser.statement.UnsupportedStatement;
import net.sf.jsqlparser.statement.delete.Delete;
import net.sf.jsqlparser.statement.insert.Insert;
import net.sf.jsqlparser.statement.merge.Merge;
import net.sf.jsqlparser.statement.select.Select;
import net.sf.jsqlparser.statement.update.Update;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Decides, for each statement, whether its result may be cached and what it reads and writes
 * (DESIGN.md, "Query analysis" and "The cache safety contract").
 *
 * <p>Hot path: one lexer pass computes the {@link Fingerprint}; the verdict for queries and DML is
 * memoized by fingerprint in a bounded Caffeine cache, so JSqlParser runs once per new statement
 * shape, on the statement's own tokens (not the fingerprint: {@code INTERVAL ?} does not parse),
 * with literals made uniform since they never change a verdict. The one literal fact that does,
 * a {@code 'now'}-style datetime input (in any literal, decoded: {@code E'\x6eow'} too), is checked
 * in the fingerprint pass on every call; conversions to date/time types of anything but a literal
 * or a parameter ({@code reverse('won')::timestamptz}) are a fact of the shape.
 * Utility statements (BEGIN, SET, COPY, TRUNCATE, DDL...) are classified from their tokens on
 * every call, never memoized: their verdicts carry literal values ({@code SET app.tenant = 'x'})
 * and are cheap to recompute. Thread-safe.
 */
public final class QueryAnalyzer {

    private static final Logger log = LoggerFactory.getLogger(QueryAnalyzer.class);

    /** Statements longer than this are not handed to JSqlParser (it has no timeout when used directly). */
    static final int MAX_PARSE_LENGTH = 256 * 1024;
    /** Like CCJSqlParserUtil: the slow "complex" grammar mode is retried only up to this nesting. */
    private static final int MAX_COMPLEX_NESTING = 10;

    private static final Set<String> QUERY_FIRST_WORDS = Set.of("select", "with", "values", "table", "(");
    /** Queries that cannot contain a data-modifying statement outside parentheses (no leading WITH). */
    private static final Set<String> PLAIN_QUERY_FIRST_WORDS = Set.of("select", "values", "table", "(");
    private static final Set<String> DML_FIRST_WORDS = Set.of("insert", "update", "delete", "merge");

    private final Cache<String, Analysis> verdicts;
    private final AstScanner.FieldTable fieldTable = new AstScanner.FieldTable();
    private final LongAdder parses = new LongAdder();
    // Verdicts are functions of the text alone, so a text seen lately is answered without lexing it again.
    private final RecentTexts<Analysis> recentStatements = new RecentTexts<>(4096);
    private final RecentTexts<List<Analysis>> recentScripts = new RecentTexts<>(4096);

    /**
     * @param lruSize maximum number of memoized verdicts (statement shapes). An entry weighs one
     *                plus one per KiB of fingerprint, so a few huge statements cannot pin
     *                megabytes: a statement whose fingerprint exceeds {@code lruSize} KiB is
     *                parsed every time
     */
    public QueryAnalyzer(int lruSize) {
        if (lruSize < 1) {
            throw new IllegalArgumentException("lruSize must be positive: " + lruSize);
        }
        this.verdicts = Caffeine.newBuilder()
                .maximumWeight(lruSize)
                .weigher((String fingerprint, Analysis verdict) -> Fingerprint.memoWeight(fingerprint))
                .executor(Runnable::run) // eviction work on the caller: no background threads
                .build();
    }

    /**
     * Analyzes one statement. A string with several statements (simple query protocol) gets one
     * combined verdict with {@link BypassReason#MULTI_STATEMENT} and kind OTHER; use
     * {@link #analyzeScript(String)} to see each statement.
     */
    public Analysis analyze(String sql) {
        return recentStatements.get(sql, this::analyzeText);
    }

    private Analysis analyzeText(String sql) {
        return analyzeScanned(sql, Fingerprint.scan(sql));
    }

    private Analysis analyzeScanned(String sql, Fingerprint.Scan scan) {
        if (scan.statements() == 0) {
            return Analysis.builder(scan.fingerprint(), Kind.EMPTY).build();
        }
        if (scan.statements() > 1) {
            return combine(scan.fingerprint(), analyzeScript(sql));
        }
        if (scan.unterminated()) {
            // an unterminated string, identifier or comment: the server rejects the statement
            return Analysis.builder(scan.fingerprint(), Kind.UNPARSEABLE).build();
        }
        String first = scan.firstWord();
        if (QUERY_FIRST_WORDS.contains(first) || DML_FIRST_WORDS.contains(first)) {
            Analysis verdict = verdicts.get(scan.fingerprint(), fingerprint -> parseAndAnalyze(sql, fingerprint));
            return scan.timeDependentLiteral() ? readsTheClock(verdict) : verdict;
        }
        String statement = SqlLexer.splitStatements(sql).get(0);
        List<Token> tokens = SqlLexer.tokenize(statement);
        Analysis utility = UtilityStatements.analyze(statement, tokens, scan.fingerprint(), this::analyze);
        if (utility.kind() == Kind.UNPARSEABLE) {
            Analysis.Builder b = Analysis.builder(scan.fingerprint(), Kind.UNPARSEABLE);
            b.callsSetConfig = LexicalFacts.of(tokens).setConfig;
            return b.build();
        }
        return utility;
    }

    /** Analyzes each statement of a simple-query string, in order; empty statements are skipped. */
    public List<Analysis> analyzeScript(String sql) {
        return recentScripts.get(sql, this::analyzeScriptText);
    }

    private List<Analysis> analyzeScriptText(String sql) {
        // One pass settles the common case: the fingerprint scan counts the statements, and a text of one
        // statement (a trailing ";" or empty statements around it are dropped from its fingerprint) has the
        // analysis of that statement alone.
        Fingerprint.Scan scan = Fingerprint.scan(sql);
        if (scan.statements() == 0) {
            return List.of();
        }
        if (scan.statements() == 1) {
            return List.of(analyzeScanned(sql, scan));
        }
        List<String> statements = SqlLexer.splitStatements(sql);
        List<Analysis> analyses = new ArrayList<>(statements.size());
        for (String statement : statements) {
            // not through the statement memo: a one-statement script is already in the script memo
            analyses.add(analyzeText(statement));
        }
        return List.copyOf(analyses);
    }

    /** How many statements were handed to JSqlParser so far (memo misses). */
    public long parserRuns() {
        return parses.sum();
    }

    /** Number of memoized verdicts (approximate). */
    public long memoizedVerdicts() {
        return verdicts.estimatedSize();
    }

    // ---------------------------------------------------------------- queries and DML

    private Analysis parseAndAnalyze(String sql, String fingerprint) {
        String statement = SqlLexer.splitStatements(sql).get(0);
        List<Token> tokens = SqlLexer.tokenize(statement);
        LexicalFacts facts = LexicalFacts.of(tokens);
        boolean plainQuery = PLAIN_QUERY_FIRST_WORDS.contains(firstWord(tokens));

        Statement parsed;
        try {
            parsed = parse(parserText(statement, tokens), facts.maxDepth);
        } catch (Exception | StackOverflowError e) {
            // once per statement shape (memoized); the fingerprint carries no literal values
            log.debug("JSqlParser cannot parse, not cached: {} ({})", fingerprint, e.getClass().getSimpleName());
            return unparseable(fingerprint, facts, plainQuery);
        }
        AstScanner scanner = new AstScanner(fieldTable);
        Statement top;
        try {
            top = scanner.scan(parsed);
        } catch (RuntimeException | StackOverflowError e) {
            log.debug("cannot analyze, not cached: {} ({})", fingerprint, e.toString());
            return unparseable(fingerprint, facts, plainQuery);
        }
        return verdict(fingerprint, top, scanner, facts);
    }

    private Statement parse(String text, int nesting) throws ParseException {
        if (text.length() > MAX_PARSE_LENGTH) {
            throw new ParseException("statement too long to parse: " + text.length() + " characters");
        }
        parses.increment();
        try {
            return parseOnce(text, false);
        } catch (Exception e) {
            if (nesting > MAX_COMPLEX_NESTING) {
                throw e;
            }
            return parseOnce(text, true);
        }
    }

    private static Statement parseOnce(String text, boolean complex) throws ParseException {
        CCJSqlParser parser = new CCJSqlParser(new StringProvider(text)).withAllowComplexParsing(complex);
        Statement statement = parser.Statement();
        if (statement == null || statement instanceof UnsupportedStatement) {
            throw new ParseException("not supported by JSqlParser");
        }
        if (parser.getToken(1).kind != CCJSqlParserConstants.EOF) {
            throw new ParseException("trailing input after the statement");
        }
        return statement;
    }

    private Analysis verdict(String fingerprint, Statement top, AstScanner scanner, LexicalFacts facts) {
        Kind kind;
        if (top instanceof Select) {
            kind = Kind.SELECT;
        } else if (top instanceof Insert) {
            kind = Kind.INSERT;
        } else if (top instanceof Update) {
            kind = Kind.UPDATE;
        } else if (top instanceof Delete) {
            kind = Kind.DELETE;
        } else if (top instanceof Merge) {
            kind = Kind.MERGE;
        } else {
            return unparseable(fingerprint, facts, false);
        }
        Analysis.Builder b = Analysis.builder(fingerprint, kind);
        b.reads(scanner.reads).writes(scanner.writes);
        b.callsSetConfig = facts.setConfig;

        // A conversion that may read the clock is as volatile as now(); an operator PostgreSQL does not
        // define runs a function pgmemo cannot see, which may be VOLATILE and write like any unknown function.
        boolean notImmutable = facts.notImmutable || facts.clockConversion || facts.unknownOperator;
        boolean writerCall = facts.writerCall || facts.unknownOperator;
        for (String function : scanner.functions) {
            switch (Functions.classify(function)) {
                case IMMUTABLE -> {
                }
                case NOT_IMMUTABLE -> notImmutable = true;
                case WRITES -> {
                    notImmutable = true;
                    writerCall = true;
                }
                case UNKNOWN -> b.unknownFunctions.add(function);
                default -> throw new IllegalStateException(function);
            }
        }
        boolean unsupported = !scanner.unsupported.isEmpty();
        boolean modifyingCte = scanner.modifyingCte || (kind == Kind.SELECT && facts.modifyingCte);
        boolean selectInto = scanner.selectInto || (kind == Kind.SELECT && facts.into);
        boolean locking = scanner.lockingClause || (kind == Kind.SELECT && facts.lockingClause);

        // For a SELECT the proxy resolves unknownFunctions in pg_proc anyway (it must, to cache), and
        // treats a VOLATILE one as an unknown write; for other statements nobody resolves them.
        boolean functionsMayWrite = kind != Kind.SELECT && !b.unknownFunctions.isEmpty();
        if (unsupported || modifyingCte || writerCall || selectInto || functionsMayWrite) {
            b.writesUnknown();
        }
        if (kind != Kind.SELECT) {
            return b.reason(BypassReason.NOT_SELECT).build();
        }
        BypassReason reason;
        if (unsupported) {
            reason = BypassReason.UNSUPPORTED_SYNTAX;
        } else if (modifyingCte) {
            reason = BypassReason.MODIFYING_CTE;
        } else if (selectInto) {
            reason = BypassReason.SELECT_INTO;
        } else if (locking) {
            reason = BypassReason.LOCKING_CLAUSE;
        } else if (scanner.reads.stream().anyMatch(TableName::isSystem)) {
            reason = BypassReason.SYSTEM_CATALOG;
        } else if (notImmutable) {
            reason = BypassReason.VOLATILE_FUNCTION;
        } else if (!b.unknownFunctions.isEmpty()) {
            reason = BypassReason.UNVERIFIED_FUNCTION;
        } else {
            reason = BypassReason.NONE;
        }
        return b.reason(reason).build();
    }

    /** The memoized verdict of this shape, for a text whose literals read the clock ({@code 'now'}). */
    private static Analysis readsTheClock(Analysis verdict) {
        if (verdict.reason() != BypassReason.NONE && verdict.reason() != BypassReason.UNVERIFIED_FUNCTION) {
            return verdict;
        }
        return new Analysis(verdict.fingerprint(), verdict.kind(), false, BypassReason.VOLATILE_FUNCTION,
                verdict.reads(), verdict.writes(), verdict.writesUnknown(), verdict.unknownFunctions(),
                verdict.callsSetConfig(), verdict.settingName(), verdict.settingValue(), verdict.local(),
                verdict.isolationLevel(), verdict.readOnly());
    }

    /**
     * JSqlParser rejected the statement: not cacheable, and it may write anything, except for a
     * plain query (not starting with WITH) in which the lexer finds no INTO and nothing that could
     * call an unvetted or writing function: such a statement cannot write.
     */
    private static Analysis unparseable(String fingerprint, LexicalFacts facts, boolean plainQuery) {
        Analysis.Builder b = Analysis.builder(fingerprint, Kind.UNPARSEABLE);
        b.callsSetConfig = facts.setConfig;
        b.unknownFunctions.addAll(facts.possibleCalls);
        boolean provablyReadOnly = plainQuery && !facts.modifyingCte && !facts.into && !facts.writerCall
                && !facts.unknownOperator && facts.possibleCalls.isEmpty();
        b.writesUnknown = !provablyReadOnly;
        return b.build();
    }

    private static Analysis combine(String fingerprint, List<Analysis> parts) {
        Analysis.Builder b = Analysis.builder(fingerprint, Kind.OTHER).reason(BypassReason.MULTI_STATEMENT);
        for (Analysis a : parts) {
            b.reads(a.reads()).writes(a.writes());
            b.unknownFunctions.addAll(a.unknownFunctions());
            b.writesUnknown |= a.writesUnknown();
            b.callsSetConfig |= a.callsSetConfig();
        }
        return b.build();
    }

    private static String firstWord(List<Token> tokens) {
        if (tokens.isEmpty()) {
            return "";
        }
        Token t = tokens.get(0);
        return t.type() == TokenType.IDENTIFIER ? t.value() : t.text();
    }

    /** Operators JSqlParser 5.3 parses in PostgreSQL queries; others are rewritten for it. */
    private static final Set<String> JSQLPARSER_OPERATORS = Set.of("+", "-", "*", "/", "%", "^", "<", ">", "=",
            "<=", ">=", "<>", "!=", "||", "~", "~*", "!~", "!~*", "@>", "<@", "&&", "?", "?|", "?&", "->", "->>",
            "#>", "#>>", "@@", "&", "|", "<<", ">>", ":=", "=>");

    /**
     * The statement as JSqlParser reads it. Every string literal becomes {@code '0'} and exotic
     * numbers (0x1F, 1_000) become {@code 0}: literals never change a verdict, JSqlParser knows
     * neither backslash escapes nor dollar quoting, and this way the parse depends only on the
     * statement's shape, i.e. on its fingerprint. Comments become a space (JSqlParser does not
     * nest block comments). Operators JSqlParser does not know ({@code <->}, {@code -|-},
     * {@code ^@}...) become {@code +}: an operator never holds a relation or a function call,
     * and the walker visits every operand whatever the tree's shape. An empty target list
     * ({@code EXISTS (SELECT FROM t ...)}) gets a literal column.
     */
    static String parserText(String sql, List<Token> tokens) {
        StringBuilder out = new StringBuilder(sql.length());
        int previousEnd = -1;
        Token previous = null;
        for (Token t : tokens) {
            if (previousEnd >= 0 && t.start() > previousEnd) {
                out.append(' ');
            }
            if (previous != null && previous.isWord("select") && (t.isWord("from") || t.isWord("where"))) {
                out.append(" 0 ");
            }
            previous = t;
            switch (t.type()) {
                case STRING -> out.append("'0'");
                case NUMBER -> {
                    String n = t.text();
                    boolean plain = n.indexOf('_') < 0 && !(n.length() > 1 && n.charAt(0) == '0'
                            && Character.isLetter(n.charAt(1)));
                    out.append(plain ? n : "0");
                }
                case QUOTED_IDENTIFIER -> out.append('"').append(t.value().replace("\"", "\"\"")).append('"');
                case OPERATOR -> out.append(JSQLPARSER_OPERATORS.contains(t.text()) ? t.text() : "+");
                default -> out.append(t.text());
            }
            previousEnd = t.end();
        }
        return out.toString();
    }
}
