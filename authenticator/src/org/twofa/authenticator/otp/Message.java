package org.twofa.authenticator.otp;

import java.util.Locale;

/**
 * The core's messages for links, hand-typed entries and secrets, in every
 * language the app speaks (English, Portuguese). The core stays free of
 * Android: the app asks an exception for {@code localizedMessage(language)}
 * with the phone's language; {@code getMessage()} is the English text (logs,
 * the command-line tools). Placeholders are {@code %s}; an argument that is
 * itself {@link Text} (a field name, a nested message) is put in the same
 * language.
 */
public enum Message {
    NO_LINK("no link given", "nenhum link recebido"),
    NOT_OTPAUTH("not an otpauth:// link", "não é um link otpauth://"),
    UNKNOWN_TYPE("unknown account type '%s'; only totp and hotp are supported",
            "tipo de conta desconhecido '%s'; só totp e hotp são suportados"),
    NO_LABEL("the link has no label (otpauth://%s/Issuer:account)",
            "o link não tem rótulo (otpauth://%s/Emissor:conta)"),
    EMPTY_LABEL_ISSUER("the issuer before ':' in the label is empty", "o emissor antes de ':' no rótulo está vazio"),
    NO_ACCOUNT_IN_LABEL("the label has no account name", "o rótulo não tem nome de conta"),
    NO_ACCOUNT_NAME("the account has no name", "a conta não tem nome"),
    NO_SECRET("the link has no secret", "o link não tem chave secreta"),
    SECRET_NOT_BASE32("the secret is not valid base32: %s", "a chave secreta não é base32 válido: %s"),
    SECRET_TOO_SHORT("the secret is too short (%s bits; at least %s needed)",
            "a chave secreta é curta demais (%s bits; são precisos pelo menos %s)"),
    UNKNOWN_ALGORITHM("unknown algorithm '%s'; expected SHA1, SHA256 or SHA512",
            "algoritmo desconhecido '%s'; use SHA1, SHA256 ou SHA512"),
    DIGITS_RANGE("digits must be 6, 7 or 8, not %s", "os dígitos devem ser 6, 7 ou 8, não %s"),
    NO_COUNTER("a counter-based (hotp) link needs a counter", "um link por contador (hotp) precisa de um contador"),
    PERIOD_RANGE("period must be 1 to %s seconds, not %s", "o período deve ser de 1 a %s segundos, não %s"),
    PARAMETER_TWICE("the parameter '%s' appears twice", "o parâmetro '%s' aparece duas vezes"),
    NOT_A_NUMBER("%s must be a whole number, not '%s'", "%s deve ser um número inteiro, não '%s'"),
    PERCENT_SHORT("bad percent-encoding in the %s: '%%' must be followed by two hex digits",
            "codificação percentual inválida em %s: '%%' deve ser seguido de dois dígitos hexadecimais"),
    PERCENT_NOT_HEX("bad percent-encoding in the %s: '%s' is not a hex byte",
            "codificação percentual inválida em %s: '%s' não é um byte hexadecimal"),
    PERCENT_NOT_UTF8("bad percent-encoding in the %s: the bytes are not UTF-8 text",
            "codificação percentual inválida em %s: os bytes não são texto UTF-8"),
    BASE32_PADDING("base32 has too much '=' padding", "o base32 tem preenchimento '=' demais"),
    BASE32_PADDING_MIDDLE("'=' at position %s is padding in the middle of the base32 text",
            "o '=' na posição %s é preenchimento no meio do texto base32"),
    BASE32_BAD_CHARACTER("'%s' at position %s is not a base32 character (A-Z, 2-7)",
            "'%s' na posição %s não é um caractere base32 (A-Z, 2-7)");

    /** Something that can be said in a language. */
    public interface Text {
        String in(String language);
    }

    private final String english;
    private final String portuguese;

    Message(String english, String portuguese) {
        this.english = english;
        this.portuguese = portuguese;
    }

    /** The template in {@code language} (an ISO 639 code such as "pt"); English for any other. */
    public String template(String language) {
        return "pt".equals(language) ? portuguese : english;
    }

    public String format(String language, Object... args) {
        Object[] localized = new Object[args.length];
        for (int i = 0; i < args.length; i++) {
            localized[i] = args[i] instanceof Text ? ((Text) args[i]).in(language) : args[i];
        }
        return String.format(Locale.ROOT, template(language), localized);
    }

    /** A field name of a link ("label", "secret", ...) as a {@link Text}. */
    public static Text field(final String name) {
        return new Text() {
            @Override
            public String in(String language) {
                if (!"pt".equals(language)) {
                    return name;
                }
                switch (name) {
                    case "scheme": return "esquema";
                    case "type": return "tipo";
                    case "label": return "rótulo";
                    case "secret": return "chave secreta";
                    case "issuer": return "emissor";
                    case "algorithm": return "algoritmo";
                    case "digits": return "dígitos";
                    case "period": return "período";
                    case "counter": return "contador";
                    case "query": return "parâmetros";
                    default: return name;
                }
            }

            @Override
            public String toString() {
                return name;
            }
        };
    }
}
