//! The reference page: the document rendered as plain HTML on the server.
//! No script and no style (the CSP allows neither), nothing fetched: it
//! works offline and in any browser, and prints.

use std::fmt::Write;

use serde_json::Value;

use super::components::METHODS;

/// Render `doc` (an OpenAPI 3.1 document as built by `document`).
pub fn render(doc: &Value) -> String {
    let title = text(&doc["info"]["title"]);
    let mut h = String::with_capacity(64 * 1024);
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title></head><body><main>\n<h1>{t}</h1>\n<p>Version {v}. \
         The machine-readable document is <a href=\"openapi.json\">openapi.json</a>.</p>\n<p>{d}</p>\n",
        t = esc(&title),
        v = esc(&text(&doc["info"]["version"])),
        d = esc(&text(&doc["info"]["description"])),
    );
    h.push_str("<h2>Routes</h2>\n<ul>\n");
    for_each_operation(doc, |method, path, op| {
        let _ = writeln!(
            h,
            "<li><a href=\"#{id}\"><code>{m} {p}</code></a> {s}</li>",
            id = esc(&anchor(method, path)),
            m = method.to_uppercase(),
            p = esc(path),
            s = esc(&text(&op["summary"])),
        );
    });
    h.push_str("</ul>\n");
    for_each_operation(doc, |method, path, op| operation(&mut h, method, path, op));
    h.push_str("<h2 id=\"schemas\">Schemas</h2>\n");
    if let Some(schemas) = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
    {
        for (name, schema) in schemas {
            let _ = writeln!(h, "<h3 id=\"schema-{n}\">{n}</h3>", n = esc(name));
            schema_table(&mut h, schema);
        }
    }
    h.push_str("</main></body></html>\n");
    h
}

fn for_each_operation(doc: &Value, mut f: impl FnMut(&str, &str, &Value)) {
    let Some(paths) = doc["paths"].as_object() else {
        return;
    };
    for (path, item) in paths {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                f(method, path, op);
            }
        }
    }
}

fn operation(h: &mut String, method: &str, path: &str, op: &Value) {
    let _ = writeln!(
        h,
        "<section id=\"{id}\">\n<h2><code>{m} {p}</code></h2>\n<p>{s}</p>",
        id = esc(&anchor(method, path)),
        m = method.to_uppercase(),
        p = esc(path),
        s = esc(&text(&op["summary"])),
    );
    if let Some(d) = op["description"].as_str() {
        let _ = writeln!(h, "<p>{}</p>", esc(d));
    }
    let auth = match op["security"].as_array() {
        Some(s) if !s.is_empty() => "Bearer token required.",
        _ => "No token needed.",
    };
    let _ = writeln!(h, "<p>{auth}</p>");
    if let Some(params) = op["parameters"].as_array().filter(|p| !p.is_empty()) {
        h.push_str("<table><caption>Parameters</caption><thead><tr><th>Name</th><th>In</th><th>Required</th><th>Type</th><th>Description</th></tr></thead><tbody>\n");
        for p in params {
            let _ = writeln!(
                h,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&text(&p["name"])),
                esc(&text(&p["in"])),
                if p["required"] == true { "yes" } else { "no" },
                esc(&type_of(&p["schema"])),
                esc(&text(&p["description"])),
            );
        }
        h.push_str("</tbody></table>\n");
    }
    if let Some(body) = op.pointer("/requestBody/content/application~1json/schema") {
        let _ = writeln!(h, "<p>Request body (JSON): {}</p>", esc(&type_of(body)));
    }
    h.push_str("<table><caption>Responses</caption><thead><tr><th>Status</th><th>Description</th><th>Data</th></tr></thead><tbody>\n");
    for (status, r) in op["responses"].as_object().into_iter().flatten() {
        let data = r
            .pointer("/content/application~1json/schema/properties/data")
            .map(type_of)
            .unwrap_or_default();
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(status),
            esc(&text(&r["description"])),
            esc(&data),
        );
    }
    h.push_str("</tbody></table>\n</section>");
}

fn schema_table(h: &mut String, schema: &Value) {
    let Some(props) = schema["properties"].as_object() else {
        let _ = writeln!(h, "<p>{}</p>", esc(&type_of(schema)));
        return;
    };
    let required: Vec<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    h.push_str("<table><thead><tr><th>Field</th><th>Type</th><th>Required</th><th>Description</th></tr></thead><tbody>\n");
    for (name, p) in props {
        let _ = writeln!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(name),
            esc(&type_of(p)),
            if required.contains(&name.as_str()) {
                "yes"
            } else {
                "no"
            },
            esc(&text(&p["description"])),
        );
    }
    h.push_str("</tbody></table>\n");
}

/// A short human form of a schema: `Department[]`, `string | null`, `"A+" | "A-"`.
fn type_of(s: &Value) -> String {
    if let Some(r) = s["$ref"].as_str() {
        return r.rsplit('/').next().unwrap_or(r).to_string();
    }
    if let Some(values) = s["enum"].as_array() {
        return values
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join(" | ");
    }
    if let Some(c) = s.get("const") {
        return c.to_string();
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(parts) = s[key].as_array() {
            return parts.iter().map(type_of).collect::<Vec<_>>().join(" | ");
        }
    }
    match &s["type"] {
        Value::String(t) if t == "array" => format!("{}[]", type_of(&s["items"])),
        Value::String(t) => t.clone(),
        Value::Array(ts) => ts.iter().map(text).collect::<Vec<_>>().join(" | "),
        _ if s.get("properties").is_some() => "object".into(),
        _ => "any".into(),
    }
}

fn anchor(method: &str, path: &str) -> String {
    let slug: String = path
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("{method}{slug}")
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// HTML-escape text for element content and quoted attributes.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_escaped_with_no_script() {
        let doc = json!({
            "info": { "title": "T <x>", "version": "1", "description": "d" },
            "paths": { "/a/{id}": { "get": {
                "summary": "<script>alert(1)</script>",
                "security": [{ "bearer": [] }],
                "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }],
                "responses": { "200": { "description": "ok", "content": { "application/json": { "schema": {
                    "properties": { "data": { "type": "array", "items": { "$ref": "#/components/schemas/Thing" } } }
                } } } } },
            } } },
            "components": { "schemas": { "Thing": { "type": "object", "required": ["n"], "properties": { "n": { "type": ["string", "null"] } } } } },
        });
        let html = render(&doc);
        assert!(!html.contains("<script"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("<code>GET /a/{id}</code>"));
        assert!(html.contains("Thing[]"));
        assert!(html.contains("string | null"));
        assert!(html.contains("Bearer token required."));
    }
}
