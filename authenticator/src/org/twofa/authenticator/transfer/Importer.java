package org.twofa.authenticator.transfer;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import org.twofa.authenticator.otp.Message;
import org.twofa.authenticator.otp.OtpAuthUri;
import org.twofa.authenticator.vault.Account;
import org.twofa.authenticator.vault.HotpAccount;
import org.twofa.authenticator.vault.TotpAccount;
import org.twofa.authenticator.vault.Vault;

/** Tells the file formats apart and reads any of them. */
public final class Importer {
    /** The formats a file chosen for import may have. */
    public enum Format {
        TWOFA_EXPORT(true),
        AEGIS_PLAIN(false),
        AEGIS_ENCRYPTED(true),
        URI_LIST(false);

        public final boolean needsPassword;

        Format(boolean needsPassword) {
            this.needsPassword = needsPassword;
        }
    }

    /** Files larger than this are not vaults of one person's accounts. */
    public static final int MAX_FILE_BYTES = 8 * 1024 * 1024;

    private Importer() {}

    public static Format detect(byte[] data) throws ImportException {
        if (data.length > MAX_FILE_BYTES) {
            throw new ImportException(Message.FILE_TOO_LARGE, data.length / 1024);
        }
        if (ExportFile.looksLikeExport(data)) {
            return Format.TWOFA_EXPORT;
        }
        String text = text(data);
        if (AegisImport.looksLikeAegis(text)) {
            return AegisImport.isEncrypted(text) ? Format.AEGIS_ENCRYPTED : Format.AEGIS_PLAIN;
        }
        if (text.contains("otpauth://") || text.contains("otpauth-migration://")) {
            return Format.URI_LIST;
        }
        throw new ImportException(Message.UNKNOWN_FORMAT);
    }

    /** Reads the file; {@code password} is needed only when {@link Format#needsPassword}. */
    public static ImportBatch read(byte[] data, char[] password) throws ImportException {
        Format format = detect(data);
        if (format.needsPassword && (password == null || password.length == 0)) {
            throw new ImportException(Message.NEEDS_PASSWORD);
        }
        switch (format) {
            case TWOFA_EXPORT:
                return fromVault(ExportFile.decrypt(data, password));
            case AEGIS_PLAIN:
            case AEGIS_ENCRYPTED:
                return AegisImport.read(text(data), password);
            default:
                return UriList.read(text(data));
        }
    }

    static ImportBatch fromVault(Vault vault) {
        ImportBatch batch = new ImportBatch();
        for (Account a : vault.accounts()) {
            if (a instanceof TotpAccount) {
                batch.add(new OtpAuthUri(a.issuer(), a.name(), ((TotpAccount) a).totp()));
            } else if (a instanceof HotpAccount) {
                batch.add(new OtpAuthUri(a.issuer(), a.name(), ((HotpAccount) a).hotp()));
            } else {
                batch.skip(a.name() + ": kind " + a.kind() + " cannot be imported");
            }
        }
        return batch;
    }

    private static String text(byte[] data) throws ImportException {
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(data))
                    .toString();
        } catch (CharacterCodingException e) {
            throw new ImportException(Message.UNKNOWN_FORMAT);
        }
    }
}
