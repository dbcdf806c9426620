package dev.pgmemo.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatIllegalArgumentException;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class UpstreamConfigTest {
    @Test
    void parsesUrlsAndPlainHostPort() {
        assertThat(UpstreamConfig.parse("postgresql://127.0.0.1:5432"))
                .isEqualTo(new UpstreamConfig("127.0.0.1", 5432, SslMode.DISABLE, null));
        assertThat(UpstreamConfig.parse("postgres://db.internal"))
                .isEqualTo(new UpstreamConfig("db.internal", 5432, SslMode.DISABLE, null));
        assertThat(UpstreamConfig.parse("postgresql://db:6000/"))
                .isEqualTo(new UpstreamConfig("db", 6000, SslMode.DISABLE, null));
        assertThat(UpstreamConfig.parse("postgresql://[::1]:5433?sslmode=require"))
                .isEqualTo(new UpstreamConfig("::1", 5433, SslMode.REQUIRE, null));
        assertThat(UpstreamConfig.parse("postgres://h:1?sslmode=verify-ca&sslrootcert=/etc/ssl/my%20ca+1.crt"))
                .isEqualTo(new UpstreamConfig("h", 1, SslMode.VERIFY_CA, Path.of("/etc/ssl/my ca+1.crt")));
        assertThat(UpstreamConfig.parse("db:5433")).isEqualTo(new UpstreamConfig("db", 5433, SslMode.DISABLE, null));
        assertThat(UpstreamConfig.parse("db")).isEqualTo(new UpstreamConfig("db", 5432, SslMode.DISABLE, null));
        assertThat(UpstreamConfig.parse("[::1]:5")).isEqualTo(new UpstreamConfig("::1", 5, SslMode.DISABLE, null));
    }

    @Test
    void everySslModeHasItsLibpqName() {
        for (SslMode mode : SslMode.values()) {
            assertThat(SslMode.fromLibpqName(mode.libpqName())).isEqualTo(mode);
            assertThat(UpstreamConfig.parse("postgresql://h?sslmode=" + mode.libpqName()).sslMode()).isEqualTo(mode);
        }
        assertThat(SslMode.VERIFY_FULL.libpqName()).isEqualTo("verify-full");
        assertThatIllegalArgumentException().isThrownBy(() -> SslMode.fromLibpqName("allow"))
                .withMessage("invalid sslmode \"allow\": expected disable, prefer, require, verify-ca or verify-full");
    }

    @Test
    void rejectsWhatClientsChooseThemselves() {
        assertThatIllegalArgumentException().isThrownBy(() -> UpstreamConfig.parse("postgresql://u@h"))
                .withMessageContaining("must not contain a user name or password");
        assertThatIllegalArgumentException().isThrownBy(() -> UpstreamConfig.parse("postgresql://h/db"))
                .withMessageContaining("must not name a database (\"db\")");
        assertThatIllegalArgumentException().isThrownBy(() -> UpstreamConfig.parse("postgresql://h?user=x"))
                .withMessageContaining("must not contain user=...");
        assertThatIllegalArgumentException().isThrownBy(() -> UpstreamConfig.parse("postgresql://h?password=x"))
                .withMessageContaining("must not contain password=...")
                .withMessageNotContaining("=x");
    }

    @Test
    void rejectsWhatPgmemoCannotDo() {
        assertThatIllegalArgumentException().isThrownBy(() -> UpstreamConfig.parse("mysql://h:3306"))
                .withMessageContaining("unsupported scheme \"mysql\"");
        assertThatIllegalArgumentException().isThrownBy(() -> UpstreamConfig.parse("postgresql://a:1,b:2"))
                .withMessageContaining("several hosts are not supported");
        assertThatIllegalArgumentException().isThrownBy(() -> UpstreamConfig.parse("postgresql://"))
                .withMessageContaining("missing host");
        assertThatIllegalArgumentException().isThrownBy(() -> UpstreamConfig.parse("postgresql://h?application_name=x"))
                .withMessage("upstream parameter \"application_name\" is not supported (supported: host, port, sslmode, sslrootcert)");
        assertThatIllegalArgumentException().isThrownBy(() -> UpstreamConfig.parse("postgresql://h?connect_timeout=3"))
                .withMessageContaining("use the top-level connect_timeout key");
        assertThatIllegalArgumentException().isThrownBy(() -> UpstreamConfig.parse("postgresql://h:0"))
                .withMessageContaining("port 0 is out of range 1-65535");
        assertThatIllegalArgumentException().isThrownBy(() -> UpstreamConfig.parse("h/x"))
                .withMessageContaining("expected postgresql://host:port");
    }

    @Test
    void hostsThatArePathsAreUnixSocketDirectories() {
        UpstreamConfig byParam = UpstreamConfig.parse("postgresql://?host=/var/run/postgresql");
        assertThat(byParam).isEqualTo(new UpstreamConfig("/var/run/postgresql", 5432, SslMode.DISABLE, null));
        assertThat(byParam.unixSocket()).isTrue();
        assertThat(byParam.address()).isNull();
        assertThat(byParam.socketPath()).isEqualTo(Path.of("/var/run/postgresql/.s.PGSQL.5432"));
        assertThat(byParam.describe()).isEqualTo("/var/run/postgresql/.s.PGSQL.5432");

        assertThat(UpstreamConfig.parse("postgres:///?host=%2Ftmp%2Fpg%20sock/&port=5433"))
                .isEqualTo(new UpstreamConfig("/tmp/pg sock", 5433, SslMode.DISABLE, null));
        assertThat(UpstreamConfig.parse("postgresql://%2Ftmp:6000"))
                .isEqualTo(new UpstreamConfig("/tmp", 6000, SslMode.DISABLE, null));
        assertThat(UpstreamConfig.parse("postgresql://%2ftmp?sslmode=prefer"))
                .isEqualTo(new UpstreamConfig("/tmp", 5432, SslMode.PREFER, null));
        assertThat(UpstreamConfig.parse("/run/postgresql"))
                .isEqualTo(new UpstreamConfig("/run/postgresql", 5432, SslMode.DISABLE, null));
        assertThat(UpstreamConfig.parse("/run/postgresql:5434").socketPath())
                .isEqualTo(Path.of("/run/postgresql/.s.PGSQL.5434"));
        // The port is split off before decoding, as in libpq: an encoded ':' belongs to the directory.
        assertThat(UpstreamConfig.parse("postgresql://%2Ftmp%3A5433"))
                .isEqualTo(new UpstreamConfig("/tmp:5433", 5432, SslMode.DISABLE, null));
        assertThat(UpstreamConfig.parse("postgresql://%2Fsrv%2Fpg%3Adata:5433"))
                .isEqualTo(new UpstreamConfig("/srv/pg:data", 5433, SslMode.DISABLE, null));
        assertThat(UpstreamConfig.parse("/srv/pg:data"))
                .isEqualTo(new UpstreamConfig("/srv/pg:data", 5432, SslMode.DISABLE, null));
        // host= and port= name a TCP server too, as in libpq.
        UpstreamConfig tcp = UpstreamConfig.parse("postgresql://?host=db.internal&port=6432");
        assertThat(tcp).isEqualTo(new UpstreamConfig("db.internal", 6432, SslMode.DISABLE, null));
        assertThat(tcp.unixSocket()).isFalse();
        assertThat(tcp.describe()).isEqualTo("db.internal:6432");
        assertThat(UpstreamConfig.parse("postgresql://?host=::1").describe()).isEqualTo("[::1]:5432");
        assertThat(UpstreamConfig.parse("postgresql://[::1]:5").describe()).isEqualTo("[::1]:5");
    }

    @Test
    void rejectsWhatASocketCannotDo() {
        assertThatIllegalArgumentException()
                .isThrownBy(() -> UpstreamConfig.parse("postgresql://?host=/var/run/postgresql&sslmode=require"))
                .withMessage("sslmode=require cannot be met over the Unix-domain socket in /var/run/postgresql "
                        + "(TLS is not used on local sockets); use sslmode=disable or a TCP host");
        assertThatIllegalArgumentException()
                .isThrownBy(() -> UpstreamConfig.parse("postgresql://%2Ftmp?sslmode=verify-full"))
                .withMessageContaining("sslmode=verify-full cannot be met");
        assertThatIllegalArgumentException()
                .isThrownBy(() -> UpstreamConfig.parse("postgresql://?host=/" + "d".repeat(100)))
                .withMessageContaining("bytes long; the limit is 107");
        assertThatIllegalArgumentException()
                .isThrownBy(() -> UpstreamConfig.parse("postgresql://h:5432?host=/tmp"))
                .withMessageContaining("not both");
        assertThatIllegalArgumentException()
                .isThrownBy(() -> UpstreamConfig.parse("postgresql://?port=5433"))
                .withMessageContaining("missing host");
        assertThatIllegalArgumentException()
                .isThrownBy(() -> UpstreamConfig.parse("postgresql://?host=/a,/b"))
                .withMessageContaining("several hosts are not supported");
        assertThatIllegalArgumentException()
                .isThrownBy(() -> UpstreamConfig.parse("postgresql://?host=/tmp&port=x"))
                .withMessageContaining("port \"x\" is not a number");
        assertThatIllegalArgumentException()
                .isThrownBy(() -> UpstreamConfig.parse("postgresql://?host=bad_host!"))
                .withMessageContaining("invalid host name");
        assertThatIllegalArgumentException()
                .isThrownBy(() -> UpstreamConfig.parse("postgresql://?host=[::1]"))
                .withMessageContaining("without brackets");
        assertThatIllegalArgumentException()
                .isThrownBy(() -> UpstreamConfig.parse("postgresql://?host=/a&host=/b"))
                .withMessageContaining("host= given twice");
        assertThatIllegalArgumentException()
                .isThrownBy(() -> UpstreamConfig.parse("/var/run/postgresql?sslmode=require"))
                .withMessageContaining("parameters need the URL form");
    }
}
