package dev.pgmemo.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatIllegalArgumentException;

import org.junit.jupiter.api.Test;

class HostPortTest {
    @Test
    void parsesNamesIpv4AndBracketedIpv6() {
        assertThat(HostPort.parse("127.0.0.1:6433")).isEqualTo(new HostPort("127.0.0.1", 6433));
        assertThat(HostPort.parse("[::1]:6433")).isEqualTo(new HostPort("::1", 6433));
        assertThat(HostPort.parse("[fe80::1%eth0]:5")).isEqualTo(new HostPort("fe80::1%eth0", 5));
        assertThat(HostPort.parse("db-1.internal:5432")).isEqualTo(new HostPort("db-1.internal", 5432));
        assertThat(HostPort.parse("localhost:0")).isEqualTo(new HostPort("localhost", 0));
    }

    @Test
    void toStringReadsBack() {
        for (String s : new String[] {"127.0.0.1:6433", "[::1]:6433", "localhost:0", "[::]:1"}) {
            assertThat(HostPort.parse(s)).hasToString(s);
            assertThat(HostPort.parse(HostPort.parse(s).toString())).isEqualTo(HostPort.parse(s));
        }
    }

    @Test
    void rejectsMalformedAddresses() {
        assertThatIllegalArgumentException().isThrownBy(() -> HostPort.parse("localhost"))
                .withMessage("invalid address \"localhost\": expected host:port, e.g. 127.0.0.1:6433 or [::1]:6433");
        assertThatIllegalArgumentException().isThrownBy(() -> HostPort.parse(":6433"))
                .withMessage("invalid address \":6433\": missing host (use 0.0.0.0 or [::] for all interfaces)");
        assertThatIllegalArgumentException().isThrownBy(() -> HostPort.parse("host:"))
                .withMessageContaining("port \"\" is not a number");
        assertThatIllegalArgumentException().isThrownBy(() -> HostPort.parse("host:-1"))
                .withMessageContaining("port \"-1\" is not a number");
        assertThatIllegalArgumentException().isThrownBy(() -> HostPort.parse("host:65536"))
                .withMessageContaining("port 65536 is out of range 0-65535");
        assertThatIllegalArgumentException().isThrownBy(() -> HostPort.parse("256.1.1.1:5"))
                .withMessageContaining("256.1.1.1 is not an IPv4 address");
        assertThatIllegalArgumentException().isThrownBy(() -> HostPort.parse("bad host:5"))
                .withMessageContaining("invalid host name \"bad host\"");
        assertThatIllegalArgumentException().isThrownBy(() -> HostPort.parse("[::1]"))
                .withMessageContaining("expected host:port");
        assertThatIllegalArgumentException().isThrownBy(() -> HostPort.parse("[::1:5"))
                .withMessageContaining("expected host:port");
        assertThatIllegalArgumentException().isThrownBy(() -> HostPort.parse("fe80::1:5"))
                .withMessageContaining("an IPv6 address goes in brackets");
        assertThatIllegalArgumentException().isThrownBy(() -> new HostPort("h", 70000));
    }
}
