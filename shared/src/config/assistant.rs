//! The assistant section: the built-in rules, or an OpenAI-compatible endpoint.

use super::*;

#[derive(Debug, Clone)]
pub enum AssistantKind {
    Rules,
    OpenAi {
        base_url: BaseUrl,
        api_key: SecretString,
        model: String,
    },
}

pub(super) fn assistant_config(src: &dyn Source) -> Result<AssistantKind, ConfigError> {
    match var(src, "ASSISTANT").as_deref() {
        None | Some("rules") => Ok(AssistantKind::Rules),
        Some("openai") => Ok(AssistantKind::OpenAi {
            base_url: BaseUrl::parse(
                "OPENAI_BASE_URL",
                &var(src, "OPENAI_BASE_URL").ok_or(missing(
                    "OPENAI_BASE_URL",
                    "ASSISTANT=openai needs the chat-completions base URL, e.g. https://api.openai.com/v1",
                ))?,
            )?,
            api_key: secret(src, "OPENAI_API_KEY")
                .ok_or(missing("OPENAI_API_KEY", "ASSISTANT=openai needs an API key"))?,
            model: var(src, "OPENAI_MODEL")
                .ok_or(missing("OPENAI_MODEL", "ASSISTANT=openai needs a model name"))?,
        }),
        Some(_) => Err(ConfigError::Invalid {
            name: "ASSISTANT",
            reason: "must be rules or openai".into(),
        }),
    }
}
