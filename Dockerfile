# pgmemo container image.
#   docker build -t pgmemo .
#   docker run --rm -p 6433:6433 pgmemo                      # upstream: host "postgres", port 5432
#   docker run --rm -p 6433:6433 -v "$PWD/pgmemo.yaml:/etc/pgmemo/pgmemo.yaml:ro" pgmemo
#   docker run --rm pgmemo check-config -c /etc/pgmemo/pgmemo.yaml

# ---- stage 1: build the shaded jar ----
FROM maven:3.9-eclipse-temurin-17 AS build
WORKDIR /src

# The poms first, so the dependency layer below is rebuilt only when a pom changes.
COPY pom.xml ./
COPY protocol/pom.xml protocol/
COPY config/pom.xml config/
COPY cache/pom.xml cache/
COPY proxy/pom.xml proxy/
COPY integration-tests/pom.xml integration-tests/
# Download dependencies and plugins by running the same build on the poms alone (empty modules).
# Not dependency:go-offline: it stops at pgmemo-cache, whose sibling modules are in no repository.
# Best effort: anything this misses, the build below fetches.
RUN (mvn -B -q package -DskipTests -pl proxy -am || echo "dependency warm-up incomplete") \
 && rm -rf protocol/target config/target cache/target proxy/target

COPY protocol/src protocol/src
COPY config/src config/src
COPY cache/src cache/src
COPY proxy/src proxy/src
RUN mvn -B -q package -DskipTests -pl proxy -am

# ---- stage 2: runtime ----
FROM eclipse-temurin:17-jre

RUN groupadd --system pgmemo \
 && useradd --system --gid pgmemo --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin pgmemo

# The launcher finds the jar at ../lib/pgmemo.jar relative to itself.
COPY --from=build /src/proxy/target/pgmemo.jar /opt/pgmemo/lib/pgmemo.jar
COPY bin/pgmemo /opt/pgmemo/bin/pgmemo
COPY docker/pgmemo.yaml /etc/pgmemo/pgmemo.yaml
RUN chmod 0755 /opt/pgmemo/bin/pgmemo \
 && chmod 0644 /opt/pgmemo/lib/pgmemo.jar /etc/pgmemo/pgmemo.yaml

ENV PATH="/opt/pgmemo/bin:${PATH}"
EXPOSE 6433 9433
USER pgmemo
# A writable working directory, e.g. for the default pid file of `pgmemo start --background`.
WORKDIR /tmp
ENTRYPOINT ["/opt/pgmemo/bin/pgmemo"]
CMD ["start", "-c", "/etc/pgmemo/pgmemo.yaml"]
