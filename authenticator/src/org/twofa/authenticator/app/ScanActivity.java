package org.twofa.authenticator.app;

import android.Manifest;
import android.app.Activity;
import android.content.Intent;
import android.content.pm.PackageManager;
import android.hardware.Camera;
import android.os.Bundle;
import android.os.Handler;
import android.os.HandlerThread;
import android.os.Looper;
import android.view.Surface;
import android.view.SurfaceHolder;
import android.view.SurfaceView;
import android.widget.TextView;
import com.google.zxing.BarcodeFormat;
import com.google.zxing.BinaryBitmap;
import com.google.zxing.DecodeHintType;
import com.google.zxing.PlanarYUVLuminanceSource;
import com.google.zxing.ReaderException;
import com.google.zxing.Result;
import com.google.zxing.common.HybridBinarizer;
import com.google.zxing.qrcode.QRCodeReader;
import org.twofa.authenticator.R;
import java.io.IOException;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * Reads an otpauth QR code from the camera preview with ZXing core. Uses the
 * original android.hardware.Camera API: camera2 would work too, but this one
 * gives NV21 preview frames that ZXing reads directly, in far less code.
 * Frames are decoded one at a time on a background thread; nothing is stored.
 * The camera permission is asked by {@link MainActivity} before it starts
 * this screen.
 */
@SuppressWarnings("deprecation")
public class ScanActivity extends Activity implements SurfaceHolder.Callback {
    static final String EXTRA_URI = "org.twofa.authenticator.URI";
    static final int RESULT_CAMERA_FAILED = RESULT_FIRST_USER + 1;

    private final Handler main = new Handler(Looper.getMainLooper());
    private final QRCodeReader reader = new QRCodeReader();
    private final Map<DecodeHintType, Object> hints = new EnumMap<DecodeHintType, Object>(DecodeHintType.class);

    private HandlerThread decodeThread;
    private Handler decoder;
    private Camera camera;
    private int cameraId;
    private int previewWidth;
    private int previewHeight;
    private SurfaceHolder holder;
    private boolean surfaceReady;
    private volatile boolean done;
    private TextView hint;

    @Override
    protected void onCreate(Bundle state) {
        super.onCreate(state);
        Secure.window(this);
        setContentView(R.layout.scan);
        hint = (TextView) findViewById(R.id.scan_hint);
        holder = ((SurfaceView) findViewById(R.id.preview)).getHolder();
        holder.addCallback(this);
        hints.put(DecodeHintType.POSSIBLE_FORMATS, Collections.singletonList(BarcodeFormat.QR_CODE));
        hints.put(DecodeHintType.TRY_HARDER, Boolean.TRUE);
    }

    @Override
    protected void onResume() {
        super.onResume();
        if (checkSelfPermission(Manifest.permission.CAMERA) != PackageManager.PERMISSION_GRANTED) {
            // Revoked while we were away: MainActivity asks again next time.
            setResult(RESULT_CANCELED);
            finish();
            return;
        }
        done = false;
        decodeThread = new HandlerThread("qr-decoder");
        decodeThread.start();
        decoder = new Handler(decodeThread.getLooper());
        try {
            cameraId = backCameraId();
            camera = Camera.open(cameraId);
        } catch (RuntimeException e) {
            setResult(RESULT_CAMERA_FAILED);
            finish();
            return;
        }
        configure(camera);
        if (surfaceReady) {
            startPreview();
        }
    }

    @Override
    protected void onPause() {
        done = true;
        if (camera != null) {
            camera.setPreviewCallback(null);
            camera.stopPreview();
            camera.release();
            camera = null;
        }
        if (decodeThread != null) {
            decodeThread.quitSafely();
            decodeThread = null;
        }
        super.onPause();
    }

    @Override
    public void surfaceCreated(SurfaceHolder h) {
        surfaceReady = true;
        if (camera != null) {
            startPreview();
        }
    }

    @Override
    public void surfaceChanged(SurfaceHolder h, int format, int width, int height) {
        // The preview keeps its size; the view scales it.
    }

    @Override
    public void surfaceDestroyed(SurfaceHolder h) {
        surfaceReady = false;
    }

    /** The first back-facing camera, or camera 0 on a device that has only a front one. */
    private static int backCameraId() {
        Camera.CameraInfo info = new Camera.CameraInfo();
        for (int id = 0; id < Camera.getNumberOfCameras(); id++) {
            Camera.getCameraInfo(id, info);
            if (info.facing == Camera.CameraInfo.CAMERA_FACING_BACK) {
                return id;
            }
        }
        if (Camera.getNumberOfCameras() == 0) {
            throw new RuntimeException("this device has no camera");
        }
        return 0;
    }

    private void configure(Camera c) {
        Camera.Parameters p = c.getParameters();
        Camera.Size best = null;
        for (Camera.Size s : p.getSupportedPreviewSizes()) {
            // About 1280x720 is plenty for a QR code and cheap to decode.
            if (best == null || Math.abs(s.width * s.height - 921600) < Math.abs(best.width * best.height - 921600)) {
                best = s;
            }
        }
        if (best != null) {
            p.setPreviewSize(best.width, best.height);
        }
        List<String> focus = p.getSupportedFocusModes();
        if (focus != null && focus.contains(Camera.Parameters.FOCUS_MODE_CONTINUOUS_PICTURE)) {
            p.setFocusMode(Camera.Parameters.FOCUS_MODE_CONTINUOUS_PICTURE);
        } else if (focus != null && focus.contains(Camera.Parameters.FOCUS_MODE_AUTO)) {
            p.setFocusMode(Camera.Parameters.FOCUS_MODE_AUTO);
        }
        c.setParameters(p);
        Camera.Size size = c.getParameters().getPreviewSize();
        previewWidth = size.width;
        previewHeight = size.height;
        c.setDisplayOrientation(displayOrientation());
    }

    /** Rotation of the preview so it appears upright (the Camera API documents this formula). */
    private int displayOrientation() {
        Camera.CameraInfo info = new Camera.CameraInfo();
        Camera.getCameraInfo(cameraId, info);
        int degrees;
        switch (getWindowManager().getDefaultDisplay().getRotation()) {
            case Surface.ROTATION_90:
                degrees = 90;
                break;
            case Surface.ROTATION_180:
                degrees = 180;
                break;
            case Surface.ROTATION_270:
                degrees = 270;
                break;
            default:
                degrees = 0;
        }
        if (info.facing == Camera.CameraInfo.CAMERA_FACING_FRONT) {
            return (360 - (info.orientation + degrees) % 360) % 360;
        }
        return (info.orientation - degrees + 360) % 360;
    }

    private void startPreview() {
        try {
            camera.setPreviewDisplay(holder);
        } catch (IOException e) {
            setResult(RESULT_CAMERA_FAILED);
            finish();
            return;
        }
        camera.startPreview();
        requestFrame();
    }

    /** One frame at a time: the next is asked for only once this one is decoded. */
    private void requestFrame() {
        if (done || camera == null) {
            return;
        }
        camera.setOneShotPreviewCallback(new Camera.PreviewCallback() {
            @Override
            public void onPreviewFrame(final byte[] data, Camera c) {
                if (done || decoder == null) {
                    return;
                }
                final int width = previewWidth;
                final int height = previewHeight;
                decoder.post(new Runnable() {
                    @Override
                    public void run() {
                        decode(data, width, height);
                    }
                });
            }
        });
    }

    /** On the decoder thread. The QR finder is rotation-invariant, so the landscape frame is read as is. */
    private void decode(byte[] nv21, int width, int height) {
        String text = null;
        try {
            PlanarYUVLuminanceSource source =
                    new PlanarYUVLuminanceSource(nv21, width, height, 0, 0, width, height, false);
            Result result = reader.decode(new BinaryBitmap(new HybridBinarizer(source)), hints);
            text = result.getText();
        } catch (ReaderException e) {
            text = null;
        } finally {
            reader.reset();
        }
        final String found = text;
        main.post(new Runnable() {
            @Override
            public void run() {
                onDecoded(found);
            }
        });
    }

    private void onDecoded(String text) {
        if (done) {
            return;
        }
        // otpauth: links, and Google Authenticator's otpauth-migration: transfer codes.
        if (text != null && (text.trim().regionMatches(true, 0, "otpauth:", 0, 8)
                || text.trim().regionMatches(true, 0, "otpauth-migration:", 0, 18))) {
            done = true;
            setResult(RESULT_OK, new Intent().putExtra(EXTRA_URI, text.trim()));
            finish();
            return;
        }
        hint.setText(text == null ? R.string.scan_hint : R.string.scan_not_otpauth);
        requestFrame();
    }
}
