package dev.pgmemo.proxy.cache;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pgmemo.cache.analysis.QueryAnalyzer;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** What the catalog memo remembers from its queries' answers, and under which scope. */
@Timeout(value = 10, unit = TimeUnit.SECONDS)
class CatalogTest {
    private final Catalog catalog = new Catalog(Duration.ofMinutes(5), new QueryAnalyzer(100), new CustomSettings());

    private static SessionContext context(String user, String searchPath, boolean tempSchema) {
        return new SessionContext("db", user, user, searchPath, "read committed", tempSchema, new byte[32], Map.of(),
                "read committed");
    }

    /** A DataRow frame (type byte and length included) with these text columns; null is SQL NULL. */
    private static ByteBuf dataRow(String... columns) {
        ByteBuf body = Unpooled.buffer();
        body.writeShort(columns.length);
        for (String c : columns) {
            if (c == null) {
                body.writeInt(-1);
            } else {
                byte[] b = c.getBytes(StandardCharsets.UTF_8);
                body.writeInt(b.length).writeBytes(b);
            }
        }
        ByteBuf frame = Unpooled.buffer();
        frame.writeByte('D').writeInt(body.readableBytes() + 4).writeBytes(body);
        body.release();
        return frame;
    }

    /** An answer row of relationsQuery for index 0: a plain table {@code public.t} with these write flags. */
    private static ByteBuf tableRow(String bypass, boolean writesAnywhere, boolean foreign) {
        return dataRow("0", bypass.equals("missing") ? null : "public.t", "t", bypass, "t",
                Boolean.toString(writesAnywhere), null, null, "t", Boolean.toString(foreign));
    }

    private Catalog.Relation remember(SessionContext ctx, Catalog.Name name, ByteBuf row) {
        try {
            return catalog.rememberRelation(ctx, List.of(name), row);
        } finally {
            row.release();
        }
    }

    @Test
    void missingWriteTargetCountsAsWritingAnywhereInTheDatabase() {
        SessionContext ctx = context("alice", "public", false);
        Catalog.Relation r = remember(ctx, new Catalog.Name(null, "t"), tableRow("missing", false, false));
        assertThat(r.bypass()).isEqualTo("missing");
        assertThat(r.userTriggers()).as("a write to a name the catalog cannot find invalidates the database").isTrue();
    }

    @Test
    void foreignWriteFlagIsRead() {
        SessionContext ctx = context("alice", "public", false);
        assertThat(remember(ctx, new Catalog.Name(null, "t"), tableRow("", false, true)).foreignWrite()).isTrue();
        assertThat(remember(ctx, new Catalog.Name(null, "u"), tableRow("", true, false)).foreignWrite()).isFalse();
    }

    @Test
    void whatOneRoleResolvedIsNotUsedForAnotherUnderTheSameSearchPath() {
        SessionContext alice = context("alice", "s, public", false);
        SessionContext bob = context("bob", "s, public", false);
        remember(alice, new Catalog.Name(null, "t"), tableRow("", false, false));
        assertThat(catalog.relation(alice, new Catalog.Name(null, "t").key())).isNotNull();
        assertThat(catalog.relation(bob, new Catalog.Name(null, "t").key())).isNull();
        assertThat(catalog.unknownRelations(bob, List.of(new Catalog.Name(null, "t")))).hasSize(1);
    }

    @Test
    void unqualifiedNamesAreNotRememberedForASessionWithATemporarySchema() {
        SessionContext temp = context("alice", "public", true);
        SessionContext plain = context("alice", "public", false);
        Catalog.Name unqualified = new Catalog.Name(null, "t");
        Catalog.Relation r = remember(temp, unqualified, tableRow("temp_table", false, false));
        assertThat(r).as("the answer is still returned").isNotNull();
        assertThat(catalog.relation(temp, unqualified.key())).isNull();
        assertThat(catalog.relation(plain, unqualified.key())).as("nor shared with a session without one").isNull();
        assertThat(catalog.unknownRelations(temp, List.of(unqualified))).as("not worth asking about").isEmpty();

        Catalog.Name qualified = new Catalog.Name("public", "t");
        remember(temp, qualified, tableRow("", false, false));
        assertThat(catalog.relation(temp, qualified.key())).isNotNull();
        Catalog.Name inTemp = new Catalog.Name("pg_temp", "t");
        remember(temp, inTemp, tableRow("temp_table", false, false));
        assertThat(catalog.relation(temp, inTemp.key())).isNull();
    }

    @Test
    void aQuotedNameWithADotIsNotTheQualifiedName() {
        assertThat(new Catalog.Name(null, "a.b").key()).isNotEqualTo(new Catalog.Name("a", "b").key());
        SessionContext ctx = context("alice", "public", false);
        remember(ctx, new Catalog.Name("a", "b"), tableRow("", false, false));
        assertThat(catalog.relation(ctx, new Catalog.Name(null, "a.b").key())).isNull();
    }
}
