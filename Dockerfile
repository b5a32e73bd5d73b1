# One image for the Airflow components and tasks, the Spark master/worker, the generator and the dashboard.
# syntax=docker/dockerfile:1

# --- the MongoDB Spark connector jars, fetched with Maven from jars/pom.xml ----------------------------
FROM maven:3.9.9-eclipse-temurin-17 AS jars
WORKDIR /build
COPY jars/pom.xml jars/pom.xml
RUN mvn -q -B -f jars/pom.xml dependency:copy-dependencies -DincludeScope=runtime \
      -DincludeGroupIds=org.mongodb,org.mongodb.spark -DoutputDirectory=/build/jars/lib/spark

# --- runtime ---------------------------------------------------------------------------------------------
FROM python:3.11.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless procps tini \
 && rm -rf /var/lib/apt/lists/*
ENV JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64 \
    PYTHONUNBUFFERED=1 \
    PAYLAKE_JARS_DIR=/opt/paylake/jars/lib \
    PAYLAKE_STATE_DIR=/var/lib/paylake \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/paylake/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False
WORKDIR /opt/paylake
COPY requirements.txt .
RUN pip install --no-cache-dir uv==0.13.9 \
 && uv pip install --system --no-cache -r requirements.txt
COPY --from=jars /build/jars/lib/spark /opt/paylake/jars/lib/spark
COPY pyproject.toml README.md ./
COPY paylake paylake
COPY dags dags
COPY scripts scripts
COPY streamlit streamlit
RUN uv pip install --system --no-cache --no-deps . \
 && useradd --create-home --uid 50000 paylake \
 && mkdir -p /var/lib/paylake /opt/airflow && chown -R paylake /var/lib/paylake /opt/airflow
USER paylake
ENTRYPOINT ["tini", "--"]
CMD ["paylake", "--help"]
