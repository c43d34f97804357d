#version 330
// The newest frame seen from the view pose, one fragment at a time (a backward warp): for each view pixel, find
// the frame pixel whose surface lands on it. A turn alone is exact from the start (it does not depend on depth);
// for a step, a few fixed-point rounds move the guess by the parallax of the depth found there. Where the view
// looks past the frame's edge, the edge is stretched. Sharpening as in image.frag.
uniform sampler2D u_tex;       // RGB, row 0 = the image's top
uniform sampler2D u_depth;     // planar depth in metres, same layout
uniform vec2 u_res;            // frame width, height in pixels
uniform vec2 u_out;            // target width, height in pixels
uniform vec4 u_intr;           // fx, fy, cx, cy
uniform mat3 u_rot;            // view camera space -> frame camera space: rotation ...
uniform vec3 u_move;           // ... and translation
uniform vec2 u_texel;          // 1 / frame size
uniform float u_sharpen;
out vec4 f_color;

const int ROUNDS = 3;

vec3 cam_ray(vec2 pix) {       // the camera-space point at depth 1 that pixel centre `pix` sees
    return vec3((pix.x - u_intr.z) / u_intr.x, -(pix.y - u_intr.w) / u_intr.y, -1.0);
}

vec2 project(vec3 p) {         // camera space -> pixel (x right, y down from the top row)
    float d = max(-p.z, 1e-4);
    return vec2(u_intr.z + u_intr.x * p.x / d, u_intr.w - u_intr.y * p.y / d);
}

void main() {
    vec2 view_pix = vec2(gl_FragCoord.x, u_out.y - gl_FragCoord.y) * u_res / u_out;
    vec3 ray = cam_ray(view_pix);
    vec3 ray_src = u_rot * ray;                      // the direction in the frame's camera
    vec2 pix = project(ray_src);                     // where a surface at infinity would be
    mat3 back = transpose(u_rot);                    // frame camera -> view camera rotation
    for (int i = 0; i < ROUNDS; ++i) {
        ivec2 ip = clamp(ivec2(floor(pix)), ivec2(0), ivec2(u_res) - 1);
        float d = texelFetch(u_depth, ip, 0).r;
        vec3 p_src = cam_ray(pix) * d;
        float z_view = -(back * (p_src - u_move)).z;  // that surface's depth in the view camera
        pix = project(ray_src * z_view + u_move);    // the frame pixel of the view ray's point at that depth
    }
    vec2 uv = pix / u_res;
    vec4 c = texture(u_tex, uv);
    if (u_sharpen > 0.0) {
        vec3 blur = 0.25 * (texture(u_tex, uv + vec2(u_texel.x, 0)).rgb + texture(u_tex, uv - vec2(u_texel.x, 0)).rgb
                          + texture(u_tex, uv + vec2(0, u_texel.y)).rgb + texture(u_tex, uv - vec2(0, u_texel.y)).rgb);
        c.rgb = clamp(c.rgb + u_sharpen * (c.rgb - blur), 0.0, 1.0);
    }
    f_color = vec4(c.rgb, 1.0);
}
