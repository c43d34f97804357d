uniform vec3 u_cam;        // camera position, metres
uniform vec3 u_fwd;        // camera forward (unit), for planar depth
uniform vec3 u_sun_dir;    // unit vector towards the sun
uniform vec3 u_sun_col;    // sun colour times intensity
uniform vec3 u_zenith;
uniform vec3 u_horizon;
uniform float u_ambient;
uniform float u_fog_density;   // per metre
uniform float u_view_m;        // fog is total at this distance
uniform float u_far_m;         // depth written for the sky

layout(location = 0) out vec4 f_color;
layout(location = 1) out float f_depth;

vec3 sky_colour(vec3 dir) {
    float up = clamp(dir.y, 0.0, 1.0);
    vec3 c = mix(u_horizon, u_zenith, pow(up, 0.55));
    c = mix(c, u_horizon * 0.85, clamp(-dir.y * 4.0, 0.0, 1.0));
    float s = max(dot(dir, u_sun_dir), 0.0);
    c += u_sun_col * (0.25 * pow(s, 12.0) + 2.0 * pow(s, 900.0));
    return c;
}

vec3 fog_colour(vec3 dir) {
    float s = max(dot(dir, u_sun_dir), 0.0);
    return u_horizon + u_sun_col * 0.18 * pow(s, 8.0);
}
