package org.twofa.authenticator.transfer;

import java.util.ArrayList;
import java.util.List;
import org.twofa.authenticator.otp.Message;

/**
 * Collects the QR codes of one Google Authenticator transfer. Scanning the
 * same code twice is harmless; a code of another transfer is refused, so two
 * transfers are never mixed up half-way.
 */
public final class MigrationBatches {
    private int batchId;
    private int size;
    private GoogleMigration.Part[] parts;

    /** Adds a scanned part; returns false when it was already scanned. */
    public boolean add(GoogleMigration.Part part) throws ImportException {
        if (parts == null) {
            batchId = part.batchId;
            size = part.batchSize;
            parts = new GoogleMigration.Part[size];
        } else if (part.batchId != batchId || part.batchSize != size) {
            throw new ImportException(Message.OTHER_TRANSFER);
        }
        if (parts[part.batchIndex] != null) {
            return false;
        }
        parts[part.batchIndex] = part;
        return true;
    }

    public int scanned() {
        int n = 0;
        if (parts != null) {
            for (GoogleMigration.Part p : parts) {
                n += p == null ? 0 : 1;
            }
        }
        return n;
    }

    /** How many QR codes the transfer has (0 before the first). */
    public int size() {
        return size;
    }

    public boolean complete() {
        return parts != null && scanned() == size;
    }

    /** The numbers (1-based) of the codes not scanned yet. */
    public List<Integer> missing() {
        List<Integer> out = new ArrayList<Integer>();
        for (int i = 0; parts != null && i < size; i++) {
            if (parts[i] == null) {
                out.add(i + 1);
            }
        }
        return out;
    }

    /** Every account scanned so far, in the order of the codes. */
    public ImportBatch accounts() {
        ImportBatch all = new ImportBatch();
        for (int i = 0; parts != null && i < size; i++) {
            if (parts[i] != null) {
                all.addAll(parts[i].accounts);
            }
        }
        return all;
    }
}
