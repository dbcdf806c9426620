package dev.pgmemo.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatIllegalArgumentException;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class UnitsTest {
    @Test
    void parsesDurations() {
        assertThat(Units.parseDuration("500ms")).isEqualTo(Duration.ofMillis(500));
        assertThat(Units.parseDuration("30s")).isEqualTo(Duration.ofSeconds(30));
        assertThat(Units.parseDuration("30 s")).isEqualTo(Duration.ofSeconds(30));
        assertThat(Units.parseDuration("5m")).isEqualTo(Duration.ofMinutes(5));
        assertThat(Units.parseDuration("5min")).isEqualTo(Duration.ofMinutes(5));
        assertThat(Units.parseDuration("1h")).isEqualTo(Duration.ofHours(1));
        assertThat(Units.parseDuration("1d")).isEqualTo(Duration.ofDays(1));
        assertThat(Units.parseDuration("1h30m")).isEqualTo(Duration.ofMinutes(90));
        assertThat(Units.parseDuration("1m 500ms")).isEqualTo(Duration.ofMillis(60_500));
        assertThat(Units.parseDuration("45")).isEqualTo(Duration.ofSeconds(45));
        assertThat(Units.parseDuration("0")).isZero();
    }

    @Test
    void rejectsMalformedDurations() {
        for (String bad : new String[] {"", "s", "6O s", "1.5h", "5 minutes", "1H", "1h30", "h1", "1e3s"}) {
            assertThatIllegalArgumentException().as(bad).isThrownBy(() -> Units.parseDuration(bad))
                    .withMessageEndingWith("(expected e.g. 500ms, 30s, 5m, 1h)");
        }
        assertThatIllegalArgumentException().isThrownBy(() -> Units.parseDuration("-1s"))
                .withMessage("invalid duration \"-1s\": must not be negative");
        assertThatIllegalArgumentException().isThrownBy(() -> Units.parseDuration("99999999999999999999s"))
                .withMessageEndingWith("too large");
        assertThatIllegalArgumentException().isThrownBy(() -> Units.parseDuration("9999999999999999d"))
                .withMessageEndingWith("too large");
    }

    @Test
    void parsesSizesBinaryAndDecimal() {
        assertThat(Units.parseSize("1024")).isEqualTo(1024);
        assertThat(Units.parseSize("10B")).isEqualTo(10);
        assertThat(Units.parseSize("512KiB")).isEqualTo(512 * 1024);
        assertThat(Units.parseSize("1MiB")).isEqualTo(1 << 20);
        assertThat(Units.parseSize("1 GiB")).isEqualTo(1L << 30);
        assertThat(Units.parseSize("2TiB")).isEqualTo(2L << 40);
        assertThat(Units.parseSize("1kB")).isEqualTo(1000);
        assertThat(Units.parseSize("1MB")).isEqualTo(1_000_000);
        assertThat(Units.parseSize("1gb")).isEqualTo(1_000_000_000);
        assertThat(Units.parseSize("1mib")).isEqualTo(1 << 20);
    }

    @Test
    void rejectsMalformedSizes() {
        for (String bad : new String[] {"", "MiB", "1.5MiB", "1 M", "1K", "1 MiB x", "1e6"}) {
            assertThatIllegalArgumentException().as(bad).isThrownBy(() -> Units.parseSize(bad))
                    .withMessageEndingWith("(expected e.g. 1024, 512KiB, 1MiB, 1GiB)");
        }
        assertThatIllegalArgumentException().isThrownBy(() -> Units.parseSize("-1"))
                .withMessage("invalid size \"-1\": must not be negative");
        assertThatIllegalArgumentException().isThrownBy(() -> Units.parseSize("99999999TiB"))
                .withMessageEndingWith("too large");
    }

    @Test
    void formatsInTheLargestExactUnit() {
        assertThat(Units.formatDuration(Duration.ofSeconds(60))).isEqualTo("1m");
        assertThat(Units.formatDuration(Duration.ofMillis(200))).isEqualTo("200ms");
        assertThat(Units.formatDuration(Duration.ofSeconds(90))).isEqualTo("90s");
        assertThat(Units.formatDuration(Duration.ZERO)).isEqualTo("0s");
        assertThat(Units.formatSize(1 << 20)).isEqualTo("1MiB");
        assertThat(Units.formatSize(1536)).isEqualTo("1536");
        assertThat(Units.formatSize(1000)).isEqualTo("1000");
        assertThat(Units.formatSize(256L << 20)).isEqualTo("256MiB");
    }
}
