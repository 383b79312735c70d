package org.twofa.authenticator.transfer;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertSame;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import org.junit.Test;
import org.twofa.authenticator.otp.Message;

/**
 * Import errors, as really thrown, come out in Portuguese for a Portuguese phone, stay English in
 * {@code getMessage()} (logs, tools) and for languages the app does not speak.
 */
public class LocalizedErrorsTest {
    private static ImportException refusedImport(byte[] data, String password) {
        try {
            Importer.read(data, password == null ? null : password.toCharArray());
            fail("imported");
            return null;
        } catch (ImportException e) {
            return e;
        }
    }

    @Test
    public void wrongPasswordInPortuguese() throws Exception {
        byte[] export = ExportFile.encrypt(ExportFileTest.sample(), "right".toCharArray(), 4, 1, 1, new SecureRandom());
        try {
            ExportFile.decrypt(export, "wrong".toCharArray());
            fail("opened with a wrong password");
        } catch (WrongPasswordException e) {
            assertSame(Message.WRONG_PASSWORD, e.message());
            assertEquals("wrong password, or the file was damaged", e.getMessage());
            assertEquals("senha errada, ou o arquivo foi danificado", e.localizedMessage("pt"));
            assertEquals("wrong password, or the file was damaged", e.localizedMessage("de"));
        }
        ImportException aegis = refusedImport(TestFiles.bytes("aegis-encrypted.json"), "not the password");
        assertTrue(aegis instanceof WrongPasswordException);
        assertEquals("senha errada, ou o arquivo foi danificado", aegis.localizedMessage("pt"));
    }

    @Test
    public void importRefusalsInPortuguese() throws Exception {
        ImportException noPassword = refusedImport(TestFiles.bytes("aegis-encrypted.json"), null);
        assertTrue(noPassword.getMessage(), noPassword.getMessage().contains("password"));
        assertTrue(noPassword.localizedMessage("pt"), noPassword.localizedMessage("pt").contains("senha"));

        try {
            ExportFile.decrypt("not an export at all".getBytes(StandardCharsets.UTF_8), "x".toCharArray());
            fail("decrypted text");
        } catch (ImportException e) {
            assertEquals("not a twofa export file", e.getMessage());
            assertEquals("não é um arquivo de exportação do twofa", e.localizedMessage("pt"));
        }

        // A nested message follows the language of the outer one.
        try {
            GoogleMigration.parse("otpauth-migration://offline?data=AB*C");
            fail("parsed a damaged transfer code");
        } catch (ImportException e) {
            assertEquals("the transfer code is damaged: the data is not base64 ('*' at position 3)", e.getMessage());
            assertEquals("o código de transferência está danificado: os dados não são base64 ('*' na posição 3)",
                    e.localizedMessage("pt"));
        }

        // Names of the parts of a file are translated inside a message.
        try {
            Codecs.hex("zz", Message.text("the slot's salt", "o sal do espaço de chave"));
            fail("decoded non-hex");
        } catch (ImportException e) {
            assertEquals("the slot's salt is not hexadecimal", e.getMessage());
            assertEquals("o sal do espaço de chave não é hexadecimal", e.localizedMessage("pt"));
        }
    }

    @Test
    public void readyMadeTextIsKeptAsIs() {
        ImportException e = new ImportException("O arquivo é grande demais.");
        assertEquals("O arquivo é grande demais.", e.localizedMessage("pt"));
        assertEquals("O arquivo é grande demais.", e.localizedMessage("en"));
    }

    @Test
    public void skippedEntriesInPortuguese() throws Exception {
        ImportBatch links = Importer.read(TestFiles.bytes("otpauth-list.txt"), null);
        String en = links.skipped().get(0);
        String pt = links.skipped("pt").get(0);
        assertTrue(en, en.startsWith("line 6: the secret is not valid base32"));
        assertTrue(pt, pt.startsWith("linha 6: a chave secreta não é base32 válido"));
        assertEquals(en, links.skipped("de").get(0));

        ImportBatch aegis = Importer.read(TestFiles.bytes("aegis-plain.json"), null);
        assertTrue(aegis.skipped().get(0), aegis.skipped().get(0).endsWith(": type steam is not supported"));
        assertTrue(aegis.skipped("pt").get(0), aegis.skipped("pt").get(0).endsWith(": o tipo steam não é suportado"));
    }
}
