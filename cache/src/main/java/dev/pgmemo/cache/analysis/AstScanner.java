package dev.pgmemo.cache.analysis;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Deque;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import net.sf.jsqlparser.expression.AllValue;
import net.sf.jsqlparser.expression.AnalyticExpression;
import net.sf.jsqlparser.expression.AnyComparisonExpression;
import net.sf.jsqlparser.expression.ArrayConstructor;
import net.sf.jsqlparser.expression.ArrayExpression;
import net.sf.jsqlparser.expression.BinaryExpression;
import net.sf.jsqlparser.expression.BooleanValue;
import net.sf.jsqlparser.expression.CaseExpression;
import net.sf.jsqlparser.expression.CastExpression;
import net.sf.jsqlparser.expression.CollateExpression;
import net.sf.jsqlparser.expression.DateTimeLiteralExpression;
import net.sf.jsqlparser.expression.DateValue;
import net.sf.jsqlparser.expression.DoubleValue;
import net.sf.jsqlparser.expression.Expression;
import net.sf.jsqlparser.expression.ExtractExpression;
import net.sf.jsqlparser.expression.Function;
import net.sf.jsqlparser.expression.HexValue;
import net.sf.jsqlparser.expression.IntervalExpression;
import net.sf.jsqlparser.expression.JdbcNamedParameter;
import net.sf.jsqlparser.expression.JdbcParameter;
import net.sf.jsqlparser.expression.JsonExpression;
import net.sf.jsqlparser.expression.LongValue;
import net.sf.jsqlparser.expression.NextValExpression;
import net.sf.jsqlparser.expression.NotExpression;
import net.sf.jsqlparser.expression.NullValue;
import net.sf.jsqlparser.expression.OverlapsCondition;
import net.sf.jsqlparser.expression.Parenthesis;
import net.sf.jsqlparser.expression.RangeExpression;
import net.sf.jsqlparser.expression.RowConstructor;
import net.sf.jsqlparser.expression.RowGetExpression;
import net.sf.jsqlparser.expression.SignedExpression;
import net.sf.jsqlparser.expression.StringValue;
import net.sf.jsqlparser.expression.TimeKeyExpression;
import net.sf.jsqlparser.expression.TimeValue;
import net.sf.jsqlparser.expression.TimestampValue;
import net.sf.jsqlparser.expression.TimezoneExpression;
import net.sf.jsqlparser.expression.TrimFunction;
import net.sf.jsqlparser.expression.WhenClause;
import net.sf.jsqlparser.expression.operators.relational.Between;
import net.sf.jsqlparser.expression.operators.relational.ExistsExpression;
import net.sf.jsqlparser.expression.operators.relational.ExpressionList;
import net.sf.jsqlparser.expression.operators.relational.InExpression;
import net.sf.jsqlparser.expression.operators.relational.IsBooleanExpression;
import net.sf.jsqlparser.expression.operators.relational.IsNullExpression;
import net.sf.jsqlparser.expression.operators.relational.IsUnknownExpression;
import net.sf.jsqlparser.expression.operators.relational.NamedExpressionList;
import net.sf.jsqlparser.expression.operators.relational.ParenthesedExpressionList;
import net.sf.jsqlparser.schema.Column;
import net.sf.jsqlparser.schema.Table;
import net.sf.jsqlparser.statement.Statement;
import net.sf.jsqlparser.statement.delete.Delete;
import net.sf.jsqlparser.statement.delete.ParenthesedDelete;
import net.sf.jsqlparser.statement.insert.Insert;
import net.sf.jsqlparser.statement.insert.ParenthesedInsert;
import net.sf.jsqlparser.statement.merge.Merge;
import net.sf.jsqlparser.statement.select.AllColumns;
import net.sf.jsqlparser.statement.select.AllTableColumns;
import net.sf.jsqlparser.statement.select.FromItem;
import net.sf.jsqlparser.statement.select.LateralSubSelect;
import net.sf.jsqlparser.statement.select.ParenthesedFromItem;
import net.sf.jsqlparser.statement.select.ParenthesedSelect;
import net.sf.jsqlparser.statement.select.PlainSelect;
import net.sf.jsqlparser.statement.select.Select;
import net.sf.jsqlparser.statement.select.SetOperationList;
import net.sf.jsqlparser.statement.select.TableFunction;
import net.sf.jsqlparser.statement.select.TableStatement;
import net.sf.jsqlparser.statement.select.Values;
import net.sf.jsqlparser.statement.select.WithItem;
import net.sf.jsqlparser.statement.update.ParenthesedUpdate;
import net.sf.jsqlparser.statement.update.Update;

/**
 * Walks a JSqlParser 5.3 AST and collects what the verdict needs: relations read (with WITH
 * scoping), write targets, called functions, locking clauses, SELECT INTO, data-modifying CTEs.
 *
 * <p>JSqlParser's own visitors skip parts of the tree ({@code TablesNamesFinder} ignores ORDER BY,
 * GROUP BY, window definitions and the subquery of {@code = ANY (SELECT ...)}, and keeps only the
 * last table of {@code TRUNCATE a, b}). So apart from the nodes that need meaning (tables,
 * functions, selects, modifying statements, CTE scopes), this walker descends generically into
 * every field of every parser node, and it flags any expression class it has not vetted: a new
 * kind of node can only make a statement uncacheable, never hide a table or a function call.
 * One instance per analysis; not thread-safe.
 */
final class AstScanner {

    /** Per-class field lists; shared by all scans of one {@link QueryAnalyzer}. */
    static final class FieldTable extends ClassValue<Field[]> {
        @Override
        protected Field[] computeValue(Class<?> type) {
            List<Field> fields = new ArrayList<>();
            for (Class<?> c = type; c != null && c.getName().startsWith("net.sf.jsqlparser."); c = c.getSuperclass()) {
                for (Field f : c.getDeclaredFields()) {
                    int mod = f.getModifiers();
                    Class<?> t = f.getType();
                    if (Modifier.isStatic(mod) || Modifier.isTransient(mod) || t.isPrimitive()
                            || t == String.class || t.isEnum() || t.getName().startsWith("net.sf.jsqlparser.parser.")) {
                        continue;
                    }
                    if (!f.trySetAccessible()) {
                        throw new IllegalStateException("cannot read " + c.getName() + "." + f.getName());
                    }
                    fields.add(f);
                }
            }
            return fields.toArray(new Field[0]);
        }
    }

    private static final int MAX_DEPTH = 4000;

    private static final Set<Class<?>> VETTED_EXPRESSIONS = Set.of(
            Column.class, AllColumns.class, AllTableColumns.class, AllValue.class,
            LongValue.class, DoubleValue.class, StringValue.class, NullValue.class, BooleanValue.class,
            HexValue.class, DateValue.class, TimeValue.class, TimestampValue.class,
            DateTimeLiteralExpression.class, IntervalExpression.class, JdbcParameter.class,
            JdbcNamedParameter.class, SignedExpression.class, NotExpression.class, Parenthesis.class,
            Between.class, InExpression.class, IsNullExpression.class, IsBooleanExpression.class,
            IsUnknownExpression.class, ExistsExpression.class, AnyComparisonExpression.class,
            ExpressionList.class, ParenthesedExpressionList.class, NamedExpressionList.class,
            RowConstructor.class, RowGetExpression.class, CaseExpression.class, WhenClause.class,
            CastExpression.class, CollateExpression.class, TimezoneExpression.class,
            ArrayExpression.class, ArrayConstructor.class, ExtractExpression.class, TrimFunction.class,
            Function.class, AnalyticExpression.class, TimeKeyExpression.class, NextValExpression.class,
            OverlapsCondition.class, RangeExpression.class, JsonExpression.class,
            PlainSelect.class, SetOperationList.class, ParenthesedSelect.class, Values.class,
            TableStatement.class, LateralSubSelect.class, TableFunction.class);

    private static final Set<Class<?>> VETTED_FROM_ITEMS = Set.of(Table.class, ParenthesedFromItem.class,
            ParenthesedSelect.class, LateralSubSelect.class, TableFunction.class, PlainSelect.class,
            SetOperationList.class, Values.class, TableStatement.class);

    private static final Set<String> SELECT_SKIP = Set.of("withItemsList", "forUpdateTable", "intoTables",
            "intoTempTable");
    private static final Set<String> MODIFY_SKIP = Set.of("withItemsList", "table", "tables");
    private static final Set<String> COLUMN_SKIP = Set.of("table");
    private static final Set<String> NO_SKIP = Set.of();

    final Set<TableName> reads = new LinkedHashSet<>();
    final Set<TableName> writes = new LinkedHashSet<>();
    final Set<String> functions = new LinkedHashSet<>();
    final Set<String> unsupported = new TreeSet<>();
    boolean lockingClause;
    boolean selectInto;
    boolean modifyingCte;

    private final FieldTable fieldTable;
    private final Deque<Set<String>> cteScopes = new ArrayDeque<>();
    private Object topStatement;
    private int depth;

    AstScanner(FieldTable fieldTable) {
        this.fieldTable = fieldTable;
    }

    /** Scans a whole statement; returns the statement with parenthesised wrappers removed. */
    Statement scan(Statement statement) {
        Statement top = unwrap(statement);
        topStatement = top;
        visit(top);
        return top;
    }

    static Statement unwrap(Statement s) {
        Statement current = s;
        while (true) {
            if (current instanceof ParenthesedInsert p) {
                current = p.getInsert();
            } else if (current instanceof ParenthesedUpdate p) {
                current = p.getUpdate();
            } else if (current instanceof ParenthesedDelete p) {
                current = p.getDelete();
            } else {
                return current;
            }
        }
    }

    private void visit(Object node) {
        if (node == null) {
            return;
        }
        if (++depth > MAX_DEPTH) {
            throw new IllegalStateException("statement nested too deeply");
        }
        try {
            dispatch(node);
        } finally {
            depth--;
        }
    }

    private void dispatch(Object node) {
        if (node instanceof CharSequence || node instanceof Number || node instanceof Boolean
                || node instanceof Enum<?> || node instanceof Character) {
            return;
        }
        if (node instanceof Table t) {
            read(t);
            visitFields(t, NO_SKIP);
            return;
        }
        if (node instanceof Column || node instanceof AllTableColumns) {
            visitFields(node, COLUMN_SKIP);
            return;
        }
        if (node instanceof Function f) {
            functions.add(functionName(f.getMultipartName()));
            visitFields(f, NO_SKIP);
            return;
        }
        if (node instanceof AnalyticExpression a) {
            functions.add(functionName(splitName(a.getName())));
            visitFields(a, NO_SKIP);
            return;
        }
        if (node instanceof TimeKeyExpression k) {
            functions.add(timeKeyName(k.getStringValue()));
            return;
        }
        if (node instanceof NextValExpression) {
            functions.add("nextval");
            return;
        }
        if (node instanceof Select s) {
            visitSelect(s);
            return;
        }
        if (node instanceof ParenthesedInsert p) { // these wrappers extend the statement they wrap
            visit(p.getInsert());
            return;
        }
        if (node instanceof ParenthesedUpdate p) {
            visit(p.getUpdate());
            return;
        }
        if (node instanceof ParenthesedDelete p) {
            visit(p.getDelete());
            return;
        }
        if (node instanceof Insert || node instanceof Update || node instanceof Delete || node instanceof Merge) {
            visitModification((Statement) node);
            return;
        }
        if (node instanceof WithItem<?> w) {
            visit(w.getParenthesedStatement());
            return;
        }
        if (node instanceof Map<?, ?> map) {
            for (Map.Entry<?, ?> e : map.entrySet()) {
                visit(e.getKey());
                visit(e.getValue());
            }
            return;
        }
        if (node instanceof Object[] array) {
            for (Object o : array) {
                visit(o);
            }
            return;
        }
        boolean parserNode = node.getClass().getName().startsWith("net.sf.jsqlparser.");
        if (parserNode) {
            vet(node);
        }
        if (node instanceof Collection<?> collection) {
            for (Object o : collection) {
                visit(o);
            }
        }
        if (parserNode) {
            visitFields(node, NO_SKIP);
        }
    }

    private void vet(Object node) {
        Class<?> type = node.getClass();
        if (node instanceof Statement && !(node instanceof Select)
                && !(node instanceof ParenthesedInsert || node instanceof ParenthesedUpdate
                || node instanceof ParenthesedDelete)) {
            unsupported.add(type.getSimpleName());
        } else if (node instanceof Expression && !(node instanceof BinaryExpression)
                && !VETTED_EXPRESSIONS.contains(type)) {
            unsupported.add(type.getSimpleName());
        } else if (node instanceof FromItem && !(node instanceof Expression) && !VETTED_FROM_ITEMS.contains(type)) {
            unsupported.add(type.getSimpleName());
        }
    }

    private void visitSelect(Select select) {
        vet(select);
        if (select.getForMode() != null || select.getForUpdateTable() != null) {
            lockingClause = true;
        }
        if (select instanceof PlainSelect plain) {
            if (plain.getIntoTables() != null && !plain.getIntoTables().isEmpty()) {
                selectInto = true;
                for (Table t : plain.getIntoTables()) {
                    writes.add(tableName(t));
                }
            }
            if (plain.getIntoTempTable() != null) {
                selectInto = true;
                writes.add(tableName(plain.getIntoTempTable()));
            }
        }
        withScope(select.getWithItemsList(), () -> visitFields(select, SELECT_SKIP));
    }

    private void visitModification(Statement statement) {
        if (statement != topStatement) {
            modifyingCte = true;
        }
        List<WithItem<?>> with;
        if (statement instanceof Insert insert) {
            writes.add(tableName(insert.getTable()));
            with = insert.getWithItemsList();
        } else if (statement instanceof Update update) {
            writes.add(tableName(update.getTable()));
            with = update.getWithItemsList();
        } else if (statement instanceof Delete delete) {
            if (delete.getTable() != null) {
                writes.add(tableName(delete.getTable()));
            }
            if (delete.getTables() != null) {
                for (Table t : delete.getTables()) {
                    writes.add(tableName(t));
                }
            }
            with = delete.getWithItemsList();
        } else {
            Merge merge = (Merge) statement;
            writes.add(tableName(merge.getTable()));
            with = merge.getWithItemsList();
        }
        withScope(with, () -> visitFields(statement, MODIFY_SKIP));
    }

    /**
     * WITH scoping (https://www.postgresql.org/docs/current/queries-with.html): without
     * RECURSIVE a CTE body sees only the CTEs listed before it (so in
     * {@code WITH t AS (SELECT * FROM t)} the inner {@code t} is the table); with RECURSIVE it
     * sees all of them; the main statement sees all. Only unqualified names are shadowed.
     */
    private void withScope(List<WithItem<?>> items, Runnable body) {
        if (items == null || items.isEmpty()) {
            body.run();
            return;
        }
        boolean recursive = items.stream().anyMatch(WithItem::isRecursive);
        Set<String> visible = new HashSet<>();
        if (recursive) {
            for (WithItem<?> item : items) {
                visible.add(foldIdentifier(item.getAlias().getName()));
            }
        }
        cteScopes.push(visible);
        try {
            for (WithItem<?> item : items) {
                visit(item.getParenthesedStatement());
                visible.add(foldIdentifier(item.getAlias().getName()));
            }
            body.run();
        } finally {
            cteScopes.pop();
        }
    }

    private void read(Table table) {
        TableName name = tableName(table);
        if (name.schema() == null) {
            for (Set<String> scope : cteScopes) {
                if (scope.contains(name.name())) {
                    return;
                }
            }
        }
        reads.add(name);
    }

    private void visitFields(Object node, Set<String> skip) {
        for (Field f : fieldTable.get(node.getClass())) {
            if (skip.contains(f.getName())) {
                continue;
            }
            Object value;
            try {
                value = f.get(node);
            } catch (IllegalAccessException e) {
                throw new IllegalStateException(e);
            }
            visit(value);
        }
    }

    // ---------------------------------------------------------------- names

    static TableName tableName(Table t) {
        String schema = t.getSchemaName();
        return new TableName(schema == null || schema.isEmpty() ? null : foldIdentifier(schema),
                foldIdentifier(t.getName()));
    }

    /** PostgreSQL folding of one name part as JSqlParser returns it (quotes kept). */
    static String foldIdentifier(String part) {
        if (part.length() >= 2 && part.charAt(0) == '"' && part.charAt(part.length() - 1) == '"') {
            return part.substring(1, part.length() - 1).replace("\"\"", "\"");
        }
        return SqlLexer.lowerAscii(part, 0, part.length());
    }

    private static String functionName(List<String> parts) {
        int from = Math.max(0, parts.size() - 2);
        StringBuilder name = new StringBuilder();
        for (int i = from; i < parts.size(); i++) {
            if (name.length() > 0) {
                name.append('.');
            }
            name.append(foldIdentifier(parts.get(i)));
        }
        return name.toString();
    }

    private static List<String> splitName(String name) {
        List<String> parts = new ArrayList<>();
        boolean quoted = false;
        int from = 0;
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (c == '"') {
                quoted = !quoted;
            } else if (c == '.' && !quoted) {
                parts.add(name.substring(from, i));
                from = i + 1;
            }
        }
        parts.add(name.substring(from));
        return parts;
    }

    private static String timeKeyName(String keyword) {
        String k = keyword.toLowerCase(Locale.ROOT).trim();
        int paren = k.indexOf('(');
        if (paren >= 0) {
            k = k.substring(0, paren).trim();
        }
        return k.replace(' ', '_');
    }
}
