package dev.pgmemo.proxy.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pgmemo.proxy.admin.AdminServer;
import org.junit.jupiter.api.Test;

/** The CLI reads back what the admin endpoint's /status writes, whatever characters a value holds. */
class AdminClientTest {

    @Test
    void stringFieldsRoundTripThroughJsonEscaping() {
        String path = "/tmp/odd \"dir\"\\with\ttab/.s.PGSQL.5432";
        String body = "{\"status\":\"running\",\"pid\":42,\"listen\":" + AdminServer.jsonString("[::1]:6433")
                + ",\"upstream\":" + AdminServer.jsonString(path) + ",\"sessions\":3}\n";
        assertThat(AdminServer.jsonString(path)).isEqualTo("\"/tmp/odd \\\"dir\\\"\\\\with\\u0009tab/.s.PGSQL.5432\"");
        assertThat(AdminClient.field(body, "upstream")).isEqualTo(path);
        assertThat(AdminClient.field(body, "listen")).isEqualTo("[::1]:6433");
        assertThat(AdminClient.field(body, "status")).isEqualTo("running");
        assertThat(AdminClient.field(body, "pid")).isEqualTo("42");
        assertThat(AdminClient.field(body, "sessions")).isEqualTo("3");
        assertThat(AdminClient.field(body, "missing")).isNull();
    }
}
