#version 330
// One eye of a stereo view, from its reprojected picture: barrel distortion for a viewer's lens (with red and
// blue at slightly other radii against its colour fringes), a vignette, and a faint level line at the horizon.
// With every term at 0 it is a plain linear-filtered copy.
uniform sampler2D u_tex;       // the eye's picture (a framebuffer: row 0 is its bottom)
uniform vec2 u_lens;           // k1, k2: an eye pixel at radius r shows the picture at r (1 + k1 r^2 + k2 r^4)
uniform float u_chroma;        // red at (1 - chroma), blue at (1 + chroma) times green's radius
uniform float u_vignette;      // 0..1: how dark the edges go
uniform float u_horizon;       // the horizon's height in the picture (0 bottom, 1 top); < 0: no line
in vec2 v_uv;
out vec4 f_color;

vec2 distort(vec2 p, float scale) {      // p in [-1, 1] from the eye's centre -> picture uv
    float r2 = dot(p, p);
    vec2 q = p * (1.0 + u_lens.x * r2 + u_lens.y * r2 * r2) * scale;
    return 0.5 * q + 0.5;
}

float inside(vec2 uv) {
    return step(0.0, uv.x) * step(uv.x, 1.0) * step(0.0, uv.y) * step(uv.y, 1.0);
}

void main() {
    vec2 p = vec2(v_uv.x, 1.0 - v_uv.y) * 2.0 - 1.0;      // y up
    vec2 ug = distort(p, 1.0);
    vec2 ur = distort(p, 1.0 - u_chroma);
    vec2 ub = distort(p, 1.0 + u_chroma);
    vec3 c = vec3(texture(u_tex, ur).r * inside(ur), texture(u_tex, ug).g * inside(ug), texture(u_tex, ub).b * inside(ub));
    if (u_horizon >= 0.0) {
        float d = abs(ug.y - u_horizon) * 360.0;           // about a pixel wide on a 360-pixel eye
        c = mix(c, vec3(1.0), 0.35 * (1.0 - smoothstep(0.5, 1.5, d)) * inside(ug));
    }
    if (u_vignette > 0.0) {
        float r = length(p);
        c *= 1.0 - u_vignette * smoothstep(0.45, 1.0, r);
    }
    f_color = vec4(c, 1.0);
}
