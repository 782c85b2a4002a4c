//! The exported schema: `schema.graphql` matches the code, and everything in it is documented.

use async_graphql::{Request, Value};

#[test]
fn schema_file_matches_the_code() {
    let expected = evenntify::graphql::schema::sdl();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let actual = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        actual == expected,
        "schema.graphql is out of date; refresh it with:\n\n    cargo run -- schema > schema.graphql\n"
    );
}

#[tokio::test]
async fn every_type_field_argument_and_enum_value_has_a_description() {
    let schema = evenntify::graphql::schema::build_schema(None);
    let query = r#"{ __schema { types {
        name kind description
        fields(includeDeprecated: true) { name description args { name description } }
        inputFields { name description }
        enumValues(includeDeprecated: true) { name description }
    } } }"#;
    let response = schema.execute(Request::new(query)).await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    let json = response.data.into_json().unwrap();
    let mut missing = Vec::new();
    let undocumented = |v: &serde_json::Value| {
        v["description"]
            .as_str()
            .is_none_or(|d| d.trim().is_empty())
    };
    for ty in json["__schema"]["types"].as_array().unwrap() {
        let name = ty["name"].as_str().unwrap();
        if name.starts_with("__") || ["String", "Int", "Float", "Boolean", "ID"].contains(&name) {
            continue;
        }
        if undocumented(ty) {
            missing.push(name.to_string());
        }
        for list in ["fields", "inputFields", "enumValues"] {
            for item in ty[list].as_array().into_iter().flatten() {
                let item_name = format!("{name}.{}", item["name"].as_str().unwrap());
                if undocumented(item) {
                    missing.push(item_name.clone());
                }
                for arg in item["args"].as_array().into_iter().flatten() {
                    if undocumented(arg) {
                        missing.push(format!("{item_name}({})", arg["name"].as_str().unwrap()));
                    }
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "undocumented schema elements: {missing:#?}"
    );
    let _ = Value::Null;
}
