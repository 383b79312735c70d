package org.twofa.authenticator.transfer;

import org.twofa.authenticator.otp.InvalidOtpAuthUriException;
import org.twofa.authenticator.otp.Message;
import org.twofa.authenticator.otp.OtpAuthUri;

/**
 * A plain text list of links, one per line: {@code otpauth://} links (as
 * many apps export them) and Google's {@code otpauth-migration://} codes.
 * Blank lines and lines starting with '#' are ignored; a line that is not a
 * valid link is reported with its number and skipped.
 */
public final class UriList {
    private UriList() {}

    public static ImportBatch read(String text) throws ImportException {
        ImportBatch batch = new ImportBatch();
        String[] lines = text.split("\r\n|\r|\n", -1);
        int links = 0;
        for (int i = 0; i < lines.length; i++) {
            String line = lines[i].trim();
            if (i == 0 && line.startsWith("\uFEFF")) {
                line = line.substring(1).trim();
            }
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            links++;
            try {
                if (GoogleMigration.isMigrationUri(line)) {
                    batch.addAll(GoogleMigration.parse(line).accounts);
                } else {
                    batch.add(OtpAuthUri.parse(line));
                }
            } catch (InvalidOtpAuthUriException e) {
                batch.skip(Message.text("line " + (i + 1), "linha " + (i + 1)), e);
            } catch (ImportException e) {
                batch.skip(Message.text("line " + (i + 1), "linha " + (i + 1)), e);
            }
        }
        if (links == 0) {
            throw new ImportException(Message.NO_LINK_IN_FILE);
        }
        return batch;
    }
}
