package org.twofa.authenticator.otp;

import java.util.Locale;

/**
 * The core's messages for links, hand-typed entries, secrets, imports and
 * the vault, in every language the app speaks (English, Portuguese). The core stays free of
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
            "'%s' na posição %s não é um caractere base32 (A-Z, 2-7)"),

    // Imports: files, transfer QR codes, passwords (transfer.ImportException).
    WRONG_PASSWORD("wrong password, or the file was damaged", "senha errada, ou o arquivo foi danificado"),
    FILE_TOO_LARGE("the file is too large (%s KiB) to be an export",
            "o arquivo é grande demais (%s KiB) para ser uma exportação"),
    UNKNOWN_FORMAT("this file is not a twofa export, an Aegis export or a list of otpauth:// links",
            "este arquivo não é uma exportação do twofa, uma exportação do Aegis nem uma lista de links otpauth://"),
    NEEDS_PASSWORD("this file is protected by a password; enter it", "este arquivo está protegido por senha; digite-a"),
    NO_LINK_IN_FILE("the file holds no otpauth:// link", "o arquivo não contém nenhum link otpauth://"),
    OTHER_TRANSFER("this QR code belongs to another transfer; finish the current one first",
            "este código QR pertence a outra transferência; termine primeiro a atual"),
    BASE64_AFTER_PADDING("the base64 data has text after its '=' padding",
            "os dados base64 têm texto depois do preenchimento '='"),
    NOT_BASE64("the data is not base64 ('%s' at position %s)", "os dados não são base64 ('%s' na posição %s)"),
    BASE64_TRUNCATED("the base64 data is truncated", "os dados base64 estão truncados"),
    NOT_HEX("%s is not hexadecimal", "%s não é hexadecimal"),
    EXPORT_NOT_TWOFA("not a twofa export file", "não é um arquivo de exportação do twofa"),
    EXPORT_NEWER("this export was made by a newer version of the app (format %s); update the app to import it",
            "esta exportação foi feita por uma versão mais recente do app (formato %s); atualize o app para importá-la"),
    EXPORT_VERSION_UNKNOWN("export format version %s does not exist", "a versão %s do formato de exportação não existe"),
    EXPORT_UNKNOWN_KDF("unknown key derivation %s in the export file",
            "derivação de chave desconhecida %s no arquivo de exportação"),
    EXPORT_SCRYPT_RANGE("the export file asks for scrypt parameters out of range (N=2^%s, r=%s, p=%s)",
            "o arquivo de exportação pede parâmetros scrypt fora do intervalo (N=2^%s, r=%s, p=%s)"),
    EXPORT_SHORT_NONCE("the export file is damaged (nonce too short)",
            "o arquivo de exportação está danificado (nonce curto demais)"),
    EXPORT_TRUNCATED("the export file is truncated", "o arquivo de exportação está truncado"),
    EXPORT_BAD_VAULT("the export file holds an unreadable vault: %s",
            "o arquivo de exportação contém um cofre ilegível: %s"),
    EXPORT_CANNOT_DECRYPT("the export file cannot be decrypted: %s",
            "não é possível decifrar o arquivo de exportação: %s"),
    MIGRATION_NOT_GOOGLE("not a Google Authenticator transfer code (otpauth-migration://)",
            "não é um código de transferência do Google Authenticator (otpauth-migration://)"),
    MIGRATION_NO_DATA("the transfer code has no data", "o código de transferência não tem dados"),
    MIGRATION_DAMAGED("the transfer code is damaged: %s", "o código de transferência está danificado: %s"),
    MIGRATION_PART("the transfer code is damaged: part %s of %s",
            "o código de transferência está danificado: parte %s de %s"),
    MIGRATION_PERCENT("bad percent-encoding in the data", "codificação percentual inválida nos dados"),
    MIGRATION_TRUNCATED_NUMBER("the transfer code is damaged (truncated number)",
            "o código de transferência está danificado (número truncado)"),
    MIGRATION_NUMBER_TOO_LONG("the transfer code is damaged (number too long)",
            "o código de transferência está danificado (número longo demais)"),
    MIGRATION_NUMBER_RANGE("the transfer code is damaged (number out of range)",
            "o código de transferência está danificado (número fora do intervalo)"),
    MIGRATION_TRUNCATED_FIELD("the transfer code is damaged (truncated field)",
            "o código de transferência está danificado (campo truncado)"),
    MIGRATION_WIRE_TYPE("the transfer code is damaged (wire type %s)",
            "o código de transferência está danificado (tipo de codificação %s)"),
    AEGIS_ENCRYPTED("this Aegis export is encrypted; enter its password",
            "esta exportação do Aegis está cifrada; digite a senha dela"),
    AEGIS_NO_DB("this Aegis file has no \"db\"", "este arquivo do Aegis não tem \"db\""),
    AEGIS_NOT_JSON("this is not an Aegis export (not JSON: %s)", "isto não é uma exportação do Aegis (não é JSON: %s)"),
    AEGIS_NO_VERSION("this is not an Aegis export (no \"version\" or \"db\")",
            "isto não é uma exportação do Aegis (falta \"version\" ou \"db\")"),
    AEGIS_VERSION("Aegis file version %s is not supported (only 1)",
            "a versão %s do arquivo do Aegis não é suportada (só a 1)"),
    AEGIS_SCRYPT_RANGE("the Aegis file asks for scrypt parameters out of range: %s",
            "o arquivo do Aegis pede parâmetros scrypt fora do intervalo: %s"),
    AEGIS_NO_PASSWORD_SLOT("this Aegis export has no password slot (only a fingerprint one); "
            + "export it again from Aegis with a password, or without encryption",
            "esta exportação do Aegis não tem espaço de senha (só um de impressão digital); "
            + "exporte-a de novo no Aegis com uma senha, ou sem cifragem"),
    AEGIS_TAG_MISMATCH("the Aegis export is damaged: its content does not match its tag",
            "a exportação do Aegis está danificada: o conteúdo não corresponde à sua tag"),
    AEGIS_CONTENT_NOT_JSON("the decrypted Aegis content is not JSON: %s",
            "o conteúdo decifrado do Aegis não é JSON: %s"),
    AEGIS_CANNOT_DECRYPT("the Aegis export cannot be decrypted: %s",
            "não é possível decifrar a exportação do Aegis: %s"),
    AEGIS_NOT_OBJECT("the Aegis file is damaged: %s is not an object",
            "o arquivo do Aegis está danificado: %s não é um objeto"),
    AEGIS_NOT_LIST("the Aegis file is damaged: %s is not a list", "o arquivo do Aegis está danificado: %s não é uma lista"),
    AEGIS_MISSING("the Aegis file is damaged: \"%s\" is missing", "o arquivo do Aegis está danificado: falta \"%s\""),
    AEGIS_SCRYPT_PARAMETER("the Aegis file asks for scrypt %s = %s, out of range",
            "o arquivo do Aegis pede scrypt %s = %s, fora do intervalo"),

    SKIP_TYPE("type %s is not supported", "o tipo %s não é suportado"),
    SKIP_HASH("hash algorithm %s is not supported", "o algoritmo de hash %s não é suportado"),
    SKIP_DIGITS("digit count #%s is not supported", "o número de dígitos #%s não é suportado"),
    SKIP_ACCOUNT_TYPE("account type #%s is not supported", "o tipo de conta #%s não é suportado"),

    // The vault on the phone (vault.VaultFormatException).
    VAULT_TRUNCATED("the vault is truncated (%s bytes)", "o cofre está truncado (%s bytes)"),
    VAULT_WRONG_MAGIC("not a twofa vault (wrong magic bytes)", "não é um cofre do twofa (assinatura inicial errada)"),
    VAULT_NEWER("the vault has format version %s, newer than the %s this app reads; update the app",
            "o cofre tem a versão de formato %s, mais recente do que a %s que este app lê; atualize o app"),
    VAULT_VERSION_UNKNOWN("vault format version %s does not exist", "a versão %s do formato do cofre não existe"),
    VAULT_LENGTH("the vault is corrupted: it says %s bytes of data but holds %s",
            "o cofre está corrompido: indica %s bytes de dados, mas contém %s"),
    VAULT_CHECKSUM("the vault is corrupted: its checksum does not match",
            "o cofre está corrompido: a soma de verificação não confere"),
    VAULT_NOT_UTF8("the vault is corrupted: its data is not UTF-8", "o cofre está corrompido: os dados não são UTF-8"),
    VAULT_CORRUPTED("the vault is corrupted: %s", "o cofre está corrompido: %s"),
    VAULT_DUPLICATE_ID("the vault holds two accounts with id %s", "o cofre contém duas contas com o id %s"),
    VAULT_EMPTY_ID("the vault is corrupted: an account has an empty id",
            "o cofre está corrompido: uma conta tem o id vazio"),
    VAULT_SECRET_NOT_BASE32("the vault is corrupted: a secret is not base32",
            "o cofre está corrompido: uma chave secreta não é base32"),
    VAULT_UNKNOWN_ALGORITHM("the vault is corrupted: unknown algorithm %s",
            "o cofre está corrompido: algoritmo desconhecido %s"),
    VAULT_UNKNOWN_KIND("the vault holds an account of kind '%s' that this version of the app does not know; "
            + "update the app",
            "o cofre contém uma conta do tipo '%s' que esta versão do app não conhece; atualize o app"),
    VAULT_NOT_OBJECT("the vault is corrupted: %s is not an object", "o cofre está corrompido: %s não é um objeto"),
    VAULT_NOT_LIST("the vault is corrupted: %s is not a list", "o cofre está corrompido: %s não é uma lista"),
    VAULT_NOT_TEXT("the vault is corrupted: \"%s\" is missing or not text",
            "o cofre está corrompido: \"%s\" falta ou não é texto"),
    VAULT_NOT_NUMBER("the vault is corrupted: \"%s\" is missing or not a number",
            "o cofre está corrompido: \"%s\" falta ou não é um número"),
    VAULT_OUT_OF_RANGE("the vault is corrupted: \"%s\" is out of range",
            "o cofre está corrompido: \"%s\" está fora do intervalo"),
    SEALED_TRUNCATED("the encrypted vault is truncated", "o cofre cifrado está truncado"),
    SEALED_WRONG_MAGIC("not an encrypted twofa vault (wrong magic bytes)",
            "não é um cofre cifrado do twofa (assinatura inicial errada)"),
    SEALED_VERSION_UNKNOWN("encrypted vault version %s does not exist", "a versão %s do cofre cifrado não existe"),
    SEALED_DAMAGED("the encrypted vault is truncated or corrupted", "o cofre cifrado está truncado ou corrompido"),
    SEALED_OTHER_KEY("the encrypted vault is corrupted or was sealed with another key",
            "o cofre cifrado está corrompido ou foi selado com outra chave");

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

    /** A phrase said in English and in Portuguese (a part of a file named inside a message). */
    public static Text text(final String english, final String portuguese) {
        return new Text() {
            @Override
            public String in(String language) {
                return "pt".equals(language) ? portuguese : english;
            }

            @Override
            public String toString() {
                return english;
            }
        };
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
