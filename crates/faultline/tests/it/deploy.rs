//! The deploy manifests name the ports and probe paths the binary serves.

use crate::harness::repo;

fn yaml_docs(rel: &str) -> Vec<serde_norway::Value> {
    let text = std::fs::read_to_string(repo(rel)).unwrap();
    text.split("\n---").filter(|d| !d.trim().is_empty()).map(|d| serde_norway::from_str(d).unwrap()).collect()
}

fn kind<'a>(docs: &'a [serde_norway::Value], k: &str) -> &'a serde_norway::Value {
    docs.iter().find(|d| d["kind"].as_str() == Some(k)).unwrap_or_else(|| panic!("no {k}"))
}

#[test]
fn manifests_match_the_binary() {
    let docs: Vec<_> = ["statefulset.yaml", "service.yaml", "configmap.yaml"]
        .iter()
        .flat_map(|f| yaml_docs(&format!("deploy/kubernetes/{f}")))
        .collect();
    let sts = kind(&docs, "StatefulSet");
    let pod = &sts["spec"]["template"];
    let c = &pod["spec"]["containers"][0];
    let ports: Vec<i64> =
        c["ports"].as_sequence().unwrap().iter().map(|p| p["containerPort"].as_i64().unwrap()).collect();
    assert_eq!(ports, vec![7070, 7071, 7072], "the admin port, Flight SQL's and the gRPC API's");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"].as_str(), Some("/healthz"));
    assert_eq!(c["readinessProbe"]["httpGet"]["path"].as_str(), Some("/readyz"));
    assert!(c["resources"]["requests"]["cpu"].is_string());
    let ann = &pod["metadata"]["annotations"];
    assert_eq!(ann["prometheus.io/scrape"].as_str(), Some("true"));
    assert_eq!(ann["prometheus.io/port"].as_str(), Some("7070"));
    assert_eq!(ann["prometheus.io/path"].as_str(), Some("/metrics"));
    let env: Vec<(String, String)> = c["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap().to_string(), e["value"].as_str().unwrap_or("").to_string()))
        .collect();
    assert!(env.contains(&("FAULTLINE_ADMIN_BIND".into(), "0.0.0.0".into())), "{env:?}");
    let token = c["env"].as_sequence().unwrap().iter().find(|e| e["name"].as_str() == Some("FAULTLINE_SQL_TOKEN"));
    let token = &token.expect("the SQL token comes from a Secret")["valueFrom"]["secretKeyRef"];
    assert_eq!(token["optional"].as_bool(), Some(true), "without the Secret the pod still starts");
    assert!(sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"].is_string());
    let svc = kind(&docs, "Service");
    let sp: Vec<i64> =
        svc["spec"]["ports"].as_sequence().unwrap().iter().map(|p| p["port"].as_i64().unwrap()).collect();
    assert_eq!(sp, vec![7070, 7071, 7072]);
    // The ConfigMap's pipeline passes check-config.
    let cm = kind(&docs, "ConfigMap");
    let toml = cm["data"]["pipeline.toml"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("pipeline.toml");
    std::fs::write(&p, toml).unwrap();
    let out = std::process::Command::new(crate::harness::bin()).arg("check-config").arg(&p).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let k = yaml_docs("deploy/kubernetes/kustomization.yaml");
    assert_eq!(k[0]["resources"].as_sequence().unwrap().len(), 3);
    let unit = std::fs::read_to_string(repo("deploy/systemd/faultline.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/faultline run --config /etc/faultline/pipeline.toml"));
    let docker = std::fs::read_to_string(repo("deploy/Dockerfile")).unwrap();
    assert!(docker.contains("EXPOSE 7070 7071 7072") && docker.contains("/etc/faultline/pipeline.toml"));
}

#[test]
fn the_kafka_deployment_runs_several_group_members_with_their_own_state() {
    let docs: Vec<_> = ["statefulset.yaml", "configmap.yaml"]
        .iter()
        .flat_map(|f| yaml_docs(&format!("deploy/kubernetes/kafka/{f}")))
        .collect();
    let sts = kind(&docs, "StatefulSet");
    assert!(sts["spec"]["replicas"].as_i64().unwrap() >= 2, "scaled out");
    assert!(sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"].is_string(), "a state volume per pod");
    let c = &sts["spec"]["template"]["spec"]["containers"][0];
    let env = c["env"].as_sequence().unwrap();
    let var = |n: &str| env.iter().find(|e| e["name"].as_str() == Some(n)).unwrap_or_else(|| panic!("no {n}"));
    assert!(var("KAFKA_BROKERS")["value"].as_str().is_some_and(|v| v.contains(":9092")));
    assert_eq!(var("POD_NAME")["valueFrom"]["fieldRef"]["fieldPath"].as_str(), Some("metadata.name"));
    let cm = kind(&docs, "ConfigMap");
    let volume = &sts["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"];
    assert_eq!(volume.as_str(), cm["metadata"]["name"].as_str(), "the pods mount the Kafka pipeline");
    let toml = cm["data"]["pipeline.toml"].as_str().unwrap();
    assert!(toml.contains("\"group.instance.id\" = \"POD_NAME\""), "static membership from the pod name");
    // The partitions' state on a volume every pod mounts, where the pipeline keeps it.
    let claim = yaml_docs("deploy/kubernetes/kafka/partitions-pvc.yaml");
    assert_eq!(claim[0]["spec"]["accessModes"][0].as_str(), Some("ReadWriteMany"));
    let shared = sts["spec"]["template"]["spec"]["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|v| v["persistentVolumeClaim"]["claimName"] == claim[0]["metadata"]["name"])
        .expect("the pods mount the shared claim");
    let mount = c["volumeMounts"].as_sequence().unwrap().iter().find(|m| m["name"] == shared["name"]).expect("mounted");
    let path = mount["mountPath"].as_str().unwrap();
    assert!(toml.contains(&format!("partition_state = \"{path}\"")), "partition_state is the shared mount {path}");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("pipeline.toml");
    std::fs::write(&p, toml).unwrap();
    let out = std::process::Command::new(crate::harness::bin())
        .arg("check-config")
        .arg(&p)
        .env("POD_NAME", "faultline-0")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let k = yaml_docs("deploy/kubernetes/kafka/kustomization.yaml");
    let resources: Vec<&str> = k[0]["resources"].as_sequence().unwrap().iter().filter_map(|r| r.as_str()).collect();
    for r in resources {
        assert!(repo(&format!("deploy/kubernetes/kafka/{r}")).exists(), "{r} exists");
    }
}
