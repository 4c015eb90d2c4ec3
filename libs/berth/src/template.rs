// TEMPORARY STUB (being replaced by the real implementation)
#[derive(Debug, thiserror::Error)]
#[error("template: {0}")]
pub struct TemplateError(String);
pub struct Template(String);
impl Template {
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        Ok(Template(src.into()))
    }
    pub fn render(&self, data: &serde_json::Value) -> Result<String, TemplateError> {
        let mut out = self.0.clone();
        if let Some(o) = data.as_object() {
            for (k, v) in o {
                out = out.replace(&format!("{{{{.{k}}}}}"), &format_value(v));
            }
        }
        Ok(out)
    }
}
pub fn split_table(format: &str) -> (bool, String) {
    let f = format.replace("\\t", "\t").replace("\\n", "\n");
    match f.strip_prefix("table") {
        Some(r) if r.is_empty() || r.starts_with(char::is_whitespace) => {
            (true, r.trim_start().to_string())
        }
        _ => (false, f),
    }
}
pub fn format_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "<nil>".into(),
        v => v.to_string(),
    }
}
