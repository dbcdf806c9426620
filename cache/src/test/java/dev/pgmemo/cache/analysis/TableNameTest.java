package dev.pgmemo.cache.analysis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class TableNameTest {

    @Test
    void parsesNamesWithPostgresFolding() {
        assertThat(TableName.parse("Users")).isEqualTo(TableName.of("users"));
        assertThat(TableName.parse("Public.Users")).isEqualTo(TableName.of("public", "users"));
        assertThat(TableName.parse("\"Sales\" . \"Order\"\"s\"")).isEqualTo(TableName.of("Sales", "Order\"s"));
        assertThat(TableName.parse("db.s.t")).isEqualTo(TableName.of("s", "t"));
    }

    @Test
    void rejectsWhatIsNotAName() {
        for (String bad : new String[] {"", "a.", "a b", "'a'", "a.*", ".a"}) {
            assertThatThrownBy(() -> TableName.parse(bad)).as(bad).isInstanceOf(IllegalArgumentException.class);
        }
    }

    @Test
    void printsNamesSoTheyParseBack() {
        for (TableName name : new TableName[] {TableName.of("users"), TableName.of("s", "Mixed Case"),
            TableName.of("1st"), TableName.of("a\"b")}) {
            assertThat(TableName.parse(name.toString())).isEqualTo(name);
        }
        assertThat(TableName.of("public", "users")).hasToString("public.users");
        assertThat(TableName.of("Users")).hasToString("\"Users\"");
    }

    @Test
    void recognisesSystemRelations() {
        assertThat(TableName.of("pg_catalog", "pg_class").isSystem()).isTrue();
        assertThat(TableName.of("information_schema", "tables").isSystem()).isTrue();
        assertThat(TableName.of("pg_temp", "scratch").isSystem()).isTrue();
        assertThat(TableName.of("pg_stat_activity").isSystem()).isTrue();
        assertThat(TableName.of("public", "pg_like_name").isSystem()).isFalse();
        assertThat(TableName.of("users").isSystem()).isFalse();
    }
}
