package org.twofa.authenticator.transfer;

import java.nio.charset.StandardCharsets;
import java.util.Locale;
import org.twofa.authenticator.otp.Algorithm;
import org.twofa.authenticator.otp.Base32;
import org.twofa.authenticator.otp.InvalidOtpAuthUriException;
import org.twofa.authenticator.otp.Message;
import org.twofa.authenticator.otp.OtpAuthUri;

/**
 * Google Authenticator's "Transfer accounts" QR codes:
 * {@code otpauth-migration://offline?data=<base64 protobuf>}. The payload is
 * a protocol buffer (MigrationPayload: repeated OtpParameters = 1, version = 2,
 * batch_size = 3, batch_index = 4, batch_id = 5; OtpParameters: secret = 1
 * (raw bytes), name = 2, issuer = 3, algorithm = 4, digits = 5, type = 6,
 * counter = 7). A transfer of many accounts is split over several QR codes
 * of one batch; {@link MigrationBatches} puts them together.
 */
public final class GoogleMigration {
    public static final String SCHEME = "otpauth-migration";

    /** One QR code of a transfer. */
    public static final class Part {
        public final ImportBatch accounts;
        public final int batchSize;
        public final int batchIndex;
        public final int batchId;

        Part(ImportBatch accounts, int batchSize, int batchIndex, int batchId) {
            this.accounts = accounts;
            this.batchSize = batchSize;
            this.batchIndex = batchIndex;
            this.batchId = batchId;
        }
    }

    private GoogleMigration() {}

    public static boolean isMigrationUri(String text) {
        return text != null && text.trim().toLowerCase(Locale.ROOT).startsWith(SCHEME + "://");
    }

    public static Part parse(String uri) throws ImportException {
        if (!isMigrationUri(uri)) {
            throw new ImportException(Message.MIGRATION_NOT_GOOGLE);
        }
        String text = uri.trim();
        int q = text.indexOf('?');
        String data = null;
        if (q >= 0) {
            for (String pair : text.substring(q + 1).split("&")) {
                if (pair.startsWith("data=")) {
                    data = pair.substring(5);
                }
            }
        }
        if (data == null || data.isEmpty()) {
            throw new ImportException(Message.MIGRATION_NO_DATA);
        }
        byte[] payload;
        try {
            // Base64 inside a URL: '+' stands for itself here, '%2B' too.
            payload = Codecs.base64(percentDecode(data));
        } catch (ImportException e) {
            throw new ImportException(e, Message.MIGRATION_DAMAGED, e);
        }
        return payload(payload);
    }

    static Part payload(byte[] payload) throws ImportException {
        ImportBatch batch = new ImportBatch();
        int size = 1;
        int index = 0;
        int id = 0;
        Proto in = new Proto(payload);
        while (in.more()) {
            int tag = in.varintInt();
            int field = tag >>> 3;
            int wire = tag & 7;
            if (field == 1 && wire == 2) {
                account(new Proto(in.bytes()), batch);
            } else if (field == 3 && wire == 0) {
                size = in.varintInt();
            } else if (field == 4 && wire == 0) {
                index = in.varintInt();
            } else if (field == 5 && wire == 0) {
                id = in.varintInt();
            } else {
                in.skip(wire);
            }
        }
        if (size < 1 || size > 1000 || index < 0 || index >= size) {
            throw new ImportException(Message.MIGRATION_PART, index + 1, size);
        }
        return new Part(batch, size, index, id);
    }

    private static void account(Proto in, ImportBatch batch) throws ImportException {
        byte[] secret = new byte[0];
        String name = "";
        String issuer = "";
        int algorithm = 0;
        int digits = 0;
        int type = 0;
        long counter = 0;
        while (in.more()) {
            int tag = in.varintInt();
            int field = tag >>> 3;
            int wire = tag & 7;
            if (field == 1 && wire == 2) {
                secret = in.bytes();
            } else if (field == 2 && wire == 2) {
                name = new String(in.bytes(), StandardCharsets.UTF_8);
            } else if (field == 3 && wire == 2) {
                issuer = new String(in.bytes(), StandardCharsets.UTF_8);
            } else if (field == 4 && wire == 0) {
                algorithm = in.varintInt();
            } else if (field == 5 && wire == 0) {
                digits = in.varintInt();
            } else if (field == 6 && wire == 0) {
                type = in.varintInt();
            } else if (field == 7 && wire == 0) {
                counter = in.varint();
            } else {
                in.skip(wire);
            }
        }
        // The name may carry the issuer as a prefix, as a link's label does.
        String account = name;
        int colon = name.indexOf(':');
        if (colon >= 0) {
            String prefix = name.substring(0, colon).trim();
            if (issuer.trim().isEmpty() || prefix.equals(issuer.trim())) {
                issuer = issuer.trim().isEmpty() ? prefix : issuer;
                account = name.substring(colon + 1);
            }
        }
        String who = issuer.trim().isEmpty() ? account : issuer + " (" + account + ")";
        String algorithmName;
        switch (algorithm) {
            case 0: case 1: algorithmName = Algorithm.SHA1.name(); break;
            case 2: algorithmName = Algorithm.SHA256.name(); break;
            case 3: algorithmName = Algorithm.SHA512.name(); break;
            default:
                batch.skip(who, Message.SKIP_HASH, algorithm == 4 ? "MD5" : "#" + algorithm);
                return;
        }
        String digitsText;
        switch (digits) {
            case 0: case 1: digitsText = "6"; break;
            case 2: digitsText = "8"; break;
            default:
                batch.skip(who, Message.SKIP_DIGITS, digits);
                return;
        }
        if (type != 0 && type != 1 && type != 2) {
            batch.skip(who, Message.SKIP_ACCOUNT_TYPE, type);
            return;
        }
        try {
            // Google's transfer has no period: it is always 30 s.
            batch.add(OtpAuthUri.manual(type == 1, issuer, account.trim().isEmpty() ? issuer : account,
                    Base32.encode(secret), algorithmName, digitsText, null, Long.toString(counter)));
        } catch (InvalidOtpAuthUriException e) {
            batch.skip(who, e);
        }
    }

    private static String percentDecode(String s) throws ImportException {
        StringBuilder b = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c != '%') {
                b.append(c);
                continue;
            }
            if (i + 2 >= s.length() || Character.digit(s.charAt(i + 1), 16) < 0
                    || Character.digit(s.charAt(i + 2), 16) < 0) {
                throw new ImportException(Message.MIGRATION_PERCENT);
            }
            b.append((char) Integer.parseInt(s.substring(i + 1, i + 3), 16));
            i += 2;
        }
        return b.toString();
    }

    /** A minimal protocol buffer reader: varints, length-delimited fields, and skipping the rest. */
    private static final class Proto {
        private final byte[] data;
        private int pos;

        Proto(byte[] data) {
            this.data = data;
        }

        boolean more() {
            return pos < data.length;
        }

        long varint() throws ImportException {
            long value = 0;
            for (int shift = 0; shift < 64; shift += 7) {
                if (pos >= data.length) {
                    throw new ImportException(Message.MIGRATION_TRUNCATED_NUMBER);
                }
                int b = data[pos++] & 0xff;
                value |= (long) (b & 0x7f) << shift;
                if ((b & 0x80) == 0) {
                    return value;
                }
            }
            throw new ImportException(Message.MIGRATION_NUMBER_TOO_LONG);
        }

        int varintInt() throws ImportException {
            long v = varint();
            if (v < 0 || v > Integer.MAX_VALUE) {
                throw new ImportException(Message.MIGRATION_NUMBER_RANGE);
            }
            return (int) v;
        }

        byte[] bytes() throws ImportException {
            int length = varintInt();
            if (length > data.length - pos) {
                throw new ImportException(Message.MIGRATION_TRUNCATED_FIELD);
            }
            byte[] out = new byte[length];
            System.arraycopy(data, pos, out, 0, length);
            pos += length;
            return out;
        }

        void skip(int wire) throws ImportException {
            switch (wire) {
                case 0: varint(); break;
                case 1: advance(8); break;
                case 2: bytes(); break;
                case 5: advance(4); break;
                default: throw new ImportException(Message.MIGRATION_WIRE_TYPE, wire);
            }
        }

        private void advance(int n) throws ImportException {
            if (n > data.length - pos) {
                throw new ImportException(Message.MIGRATION_TRUNCATED_FIELD);
            }
            pos += n;
        }
    }
}
