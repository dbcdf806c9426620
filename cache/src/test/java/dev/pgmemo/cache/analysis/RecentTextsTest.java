package dev.pgmemo.cache.analysis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class RecentTextsTest {

    private final List<String> computed = new ArrayList<>();

    private String compute(String text) {
        computed.add(text);
        return "v:" + text;
    }

    @Test
    void aRepeatedTextIsComputedOnce() {
        RecentTexts<String> memo = new RecentTexts<>(16);
        assertThat(memo.get("SELECT 1", this::compute)).isEqualTo("v:SELECT 1");
        assertThat(memo.get(new String("SELECT 1"), this::compute)).isEqualTo("v:SELECT 1");
        assertThat(computed).containsExactly("SELECT 1");
    }

    @Test
    void textsSharingASlotReplaceEachOtherAndNeverGetTheOthersValue() {
        RecentTexts<String> memo = new RecentTexts<>(1); // every text lands in the one slot
        for (int round = 0; round < 3; round++) {
            for (String sql : List.of("SELECT 1", "SELECT 2", "select 1")) {
                assertThat(memo.get(sql, this::compute)).isEqualTo("v:" + sql);
            }
        }
        assertThat(computed).hasSize(9);
        assertThat(memo.get("select 1", this::compute)).isEqualTo("v:select 1");
        assertThat(computed).hasSize(9);
    }

    @Test
    void longTextsAreComputedEveryTime() {
        RecentTexts<String> memo = new RecentTexts<>(16);
        String huge = "SELECT " + "x".repeat(RecentTexts.MAX_TEXT_LENGTH);
        memo.get(huge, this::compute);
        memo.get(huge, this::compute);
        assertThat(computed).hasSize(2);
    }

    @Test
    void slotCountMustBeAPowerOfTwo() {
        assertThatThrownBy(() -> new RecentTexts<String>(12)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void theAnalyzerAnswersARepeatedTextWithoutLexingItAgain() {
        QueryAnalyzer analyzer = new QueryAnalyzer(100);
        Analysis first = analyzer.analyze("SELECT a FROM t WHERE id = 1");
        assertThat(analyzer.analyze("SELECT a FROM t WHERE id = 1")).isSameAs(first);
        List<Analysis> script = analyzer.analyzeScript("SELECT 1; UPDATE t SET a = 2");
        assertThat(analyzer.analyzeScript("SELECT 1; UPDATE t SET a = 2")).isSameAs(script);
        assertThat(script).extracting(Analysis::kind).containsExactly(Analysis.Kind.SELECT, Analysis.Kind.UPDATE);
    }
}
